"""Door faults: doors open while moving, doors that reverse and will not close."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from simulators.faults.base import Fault
from simulators.state import (
    CLOSING,
    OPEN,
    OPENING,
)


class DoorOpenWhileMoving(Fault):
    """The door lock is bypassed: the car leaves a landing with its doors open."""

    kind = "door_open_while_moving"
    defaults: ClassVar[dict[str, str]] = {"runs": "1"}
    needs_trips = True

    def arm(self, t: float) -> None:
        self.left = max(1, int(self.num("runs")))

    def on_close(self, t: float) -> bool:
        car = self.car
        if car.next_target() is None:
            return False
        car.bypass = True
        car.set_door(OPEN)
        car.cancel()
        car.schedule(t + 0.8, car.start_run)
        return True

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        if not self.car.bypass:
            return
        times, _, v = self.trace(t, arrival)
        fast = times[np.abs(v) > 0.1]
        if self.start is None and len(fast):
            self.start = float(fast[0])

    def on_arrive(self, t: float) -> bool:
        if self.car.bypass:
            self.left -= 1
            if self.left <= 0:
                self.car.bypass = False
                self.end = t
                self.finish(t)
        return False


class DoorFault(Fault):
    """Door operator trouble: a door that takes minutes to close, or keeps reversing."""

    kind = "door_fault"
    defaults: ClassVar[dict[str, str]] = {"mode": "random", "close_s": "90s", "reversals": "8"}
    needs_trips = True

    def arm(self, t: float) -> None:
        self.mode = self.choice("mode", ("slow_close", "reversals"))
        self.count = 0
        # each phase lasts long enough to be seen in at least one sample
        self.step = max(1.6, 1.6 * self.ctx.period_s)

    def on_close(self, t: float) -> bool:
        self.car.halt()
        self.car.set_door(CLOSING)
        self.start = t
        if self.mode == "slow_close":
            self.at(t + max(70.0, self.dur("close_s")), self._closed)
        else:
            self.at(t + self.step, self._reverse)
        return True

    def _closed(self, t: float) -> None:
        car = self.car
        self.finish(t)
        car.in_service = True
        car.closed(t)

    def _reverse(self, t: float) -> None:
        self.count += 1
        if self.count == 1:
            self.start = t
        self.end = t
        self.car.set_door(OPENING)
        self.at(t + self.step, self._open)

    def _open(self, t: float) -> None:
        self.car.set_door(OPEN)
        if self.count >= max(6, int(self.num("reversals"))):
            self.at(t + 2.0, self._final)
        else:
            self.at(t + 2.0, self._closing)

    def _closing(self, t: float) -> None:
        self.car.set_door(CLOSING)
        self.at(t + self.step, self._reverse)

    def _final(self, t: float) -> None:
        car = self.car
        self.finish(t)
        car.in_service = True
        car.resume(t)
