"""Ride quality: abnormal vibration in the acceleration windows."""

from __future__ import annotations

from typing import ClassVar

from simulators.faults.base import Fault


class AbnormalVibration(Fault):
    """Guide-rail or roller wear grows run by run until the ride is several times rougher."""

    kind = "abnormal_vibration"
    defaults: ClassVar[dict[str, str]] = {"factor": "4", "ramp_runs": "6", "hold_runs": "10",
                                          "min_runs": "15"}
    needs_trips = True

    def arm(self, t: float) -> None:
        self.factor = max(3.0, self.num("factor"))
        self.ramp = max(1, int(self.num("ramp_runs")))
        self.hold = max(5, int(self.num("hold_runs")))
        self.min_runs = max(12, int(self.num("min_runs")))
        self.worn = 0

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        # the service needs a baseline of normal runs before wear can be told apart
        if self.car.runs < self.min_runs:
            return
        self.worn += 1
        wear = 1.0 + (self.factor - 1.0) * min(1.0, self.worn / self.ramp)
        self.ctx.state.wear[self.car.i] = wear
        if wear >= 2.0 and self.start is None:
            self.start = t
            self.details["ramp_from_ms"] = t
        if self.worn >= self.ramp + self.hold:
            self.at(arrival, self._repair)

    def _repair(self, t: float) -> None:
        self.ctx.state.wear[self.car.i] = 1.0
        self.finish(t)
