"""Trapped passengers: a car stopped between floors with people inside."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from simulators.faults.base import TRAPPED_ZONE_M, Fault
from simulators.motion import rest_position


class TrappedPassenger(Fault):
    """Passengers trapped: the car stops between floors, or its doors fail to open."""

    kind = "trapped_passenger"
    defaults: ClassVar[dict[str, str]] = {"where": "random", "duration": "3m", "alarm": "false"}
    needs_trips = True
    WHERE = ("between_floors", "at_landing")

    def arm(self, t: float) -> None:
        self.where = self.choice("where", self.WHERE)
        self.duration = max(45.0, self.dur("duration"))
        self.triggered = False

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        if self.triggered or self.where != "between_floors" or not self.car.passengers:
            return
        stop = self._stop_time(t, arrival)
        if stop is None:
            return
        self.triggered = True
        car = self.car
        car.halt()
        rest = self.ctx.state.motion.emergency_stop(car.i, stop)
        self.at(rest, self._stuck)

    def _stop_time(self, t0: float, t1: float) -> float | None:
        """A moment to stop so that the car rests well away from any landing."""
        candidates = np.linspace(t0 + 1.0, t1 - 1.0, 120)
        if len(candidates) == 0 or t1 - t0 < 3.0:
            return None
        motion = self.ctx.state.motion
        p, v, a = motion.evaluate(np.array([self.car.i]), candidates[None, :])
        landings = np.asarray(self.car.landings)
        best, best_gap = None, 0.0
        for k, tc in enumerate(candidates):
            rest = rest_position(float(p[0, k]), float(v[0, k]), float(a[0, k]))
            gap = float(np.abs(landings - rest).min())
            if gap > best_gap:
                best, best_gap = float(tc), gap
            if gap >= 0.6:
                break
        return best if best_gap > 2 * TRAPPED_ZONE_M else None

    def _stuck(self, t: float) -> None:
        self.start = t
        self.set_code("DRIVE_FAULT")
        if self.flag("alarm"):
            self.at(t + 20.0, self._alarm)
        self.at(t + self.duration, self._rescue)

    def _alarm(self, t: float) -> None:
        self.ctx.state.alarm[self.car.i] = True
        self.details["alarm_from_ms"] = t

    def _rescue(self, t: float) -> None:
        pos = self.ctx.state.motion.state(self.car.i, t)[0]
        k = int(np.abs(np.asarray(self.car.landings) - pos).argmin())
        self.car.floor = self.car.target = k
        arrival = self.car.move_to(t, self.car.landings[k])
        self.details["rescue_run_from_ms"] = t
        self.at(arrival + 0.5, self._release)

    def on_arrive(self, t: float) -> bool:
        if self.triggered or self.where != "at_landing" or not self.car.passengers:
            return False
        self.triggered = True
        self.car.halt()
        self.start = t
        self.set_code("DOOR_OPERATOR")
        self.at(t + self.duration, self._release)
        return True

    def _release(self, t: float) -> None:
        self.ctx.state.alarm[self.car.i] = False
        self.set_code(None)
        self.end = t
        car = self.car
        self.finish(t)
        car.in_service = True
        car.evacuate(t)
