"""Faults of the car's motion: overspeed and overrun past a terminal landing."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from simulators.faults.base import Fault
from simulators.motion import Drive, ramp_time


class Overspeed(Fault):
    """A drive or encoder fault: the car runs well above its rated speed."""

    kind = "overspeed"
    defaults: ClassVar[dict[str, str]] = {"factor": "1.25"}
    needs_trips = True
    empty_trips = True

    def arm(self, t: float) -> None:
        self.factor = max(1.2, self.num("factor"))
        self.triggered = False

    def trip_dest(self) -> int:
        n = len(self.car.landings)
        return 0 if self.car.floor > (n - 1) / 2 else n - 1

    def drive(self, t: float, floor: int, drive: Drive) -> Drive:
        if self.triggered:
            return drive
        speed = self.car.spec.rated_speed_mps * self.factor
        distance = abs(self.car.landings[floor] - self.car.landings[self.car.floor])
        if distance < speed * ramp_time(speed, drive.accel, drive.jerk) + 4.0 * speed:
            return drive
        self.triggered = True
        return Drive(speed=speed, accel=drive.accel, jerk=drive.jerk)

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        if not self.triggered or self.start is not None:
            return
        times, _, v = self.trace(t, arrival)
        over = times[np.abs(v) > 1.15 * self.car.spec.rated_speed_mps]
        self.start, self.end = float(over[0]), float(over[-1])
        self.details["peak_speed_mps"] = round(float(np.abs(v).max()), 3)
        self.at(arrival, self.finish)


class Overrun(Fault):
    """The car overshoots a terminal landing (brake slip) and stops beyond it."""

    kind = "overrun"
    defaults: ClassVar[dict[str, str]] = {"end": "random", "over_m": "0.45", "hold": "20s"}
    needs_trips = True
    empty_trips = True

    def arm(self, t: float) -> None:
        self.which = self.choice("end", ("top", "bottom"))
        self.terminal = len(self.car.landings) - 1 if self.which == "top" else 0
        self.over = max(0.35, self.num("over_m"))
        self.hold = min(25.0, self.dur("hold"))  # trapped_passenger would follow at 30 s
        self.triggered = self.holding = False

    def trip_dest(self) -> int:
        if self.car.floor != self.terminal:
            return self.terminal
        return len(self.car.landings) // 2

    def stop_offset(self, t: float, floor: int, offset: float) -> float:
        if self.triggered or floor != self.terminal:
            return offset
        self.triggered = True
        return self.over if self.which == "top" else -self.over

    def _outside(self, p: np.ndarray) -> np.ndarray:
        top, bottom = self.car.landings[-1], self.car.landings[0]
        return (p > top + 0.3) | (p < bottom - 0.3)  # type: ignore[no-any-return]

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        if self.triggered and self.start is None:
            times, p, _ = self.trace(t, arrival)
            out = times[self._outside(p)]
            if len(out):
                self.start = float(out[0])

    def on_arrive(self, t: float) -> bool:
        if not self.triggered or self.holding:
            return False
        self.holding = True
        self.car.halt()
        self.set_code("OVERTRAVEL")
        self.at(t + self.hold, self._back)
        return True

    def _back(self, t: float) -> None:
        arrival = self.car.move_to(t, self.car.landings[self.terminal])
        times, p, _ = self.trace(t, arrival)
        inside = times[~self._outside(p)]
        self.end = float(inside[0]) if len(inside) else arrival
        self.at(arrival, self._resume)

    def _resume(self, t: float) -> None:
        self.set_code(None)
        car = self.car
        self.finish(t)
        car.in_service = True
        car.arrived(t)
