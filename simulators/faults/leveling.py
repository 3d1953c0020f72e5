"""Leveling: the car stops away from the landing sill."""

from __future__ import annotations

from typing import ClassVar

from simulators.faults.base import Fault


class LevelingError(Fault):
    """Brake wear or encoder drift: the car stops 11-20 mm off the landing at every stop."""

    kind = "leveling_error"
    defaults: ClassVar[dict[str, str]] = {"mm": "15", "stops": "6"}
    needs_trips = True

    def arm(self, t: float) -> None:
        self.sign = 1.0 if self.rng.random() < 0.5 else -1.0
        self.mm = min(19.0, max(12.0, self.num("mm")))
        self.left = max(5, int(self.num("stops")))
        self.pending = False

    def stop_offset(self, t: float, floor: int, offset: float) -> float:
        if self.left <= 0:
            return offset
        self.pending = True
        return self.sign * float(self.rng.uniform(self.mm - 1.0, self.mm + 1.0)) / 1000.0

    def on_stop(self, t: float) -> None:
        if self.pending:
            self.pending = False
            if self.start is None:
                self.start = t
            self.left -= 1

    def on_close(self, t: float) -> bool:
        if self.left <= 0 and self.start is not None:
            self.finish(t)
        return False
