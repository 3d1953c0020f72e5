"""Equipment faults: safety circuit, power, motor heat, alarm, connectivity, a sealed car in use."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from simulators.car import DOORS, RUNNING
from simulators.faults.base import OVERHEAT_C, Fault
from simulators.state import (
    BACKUP,
    CLOSED,
    MAINS,
    NO_POWER,
    THERMAL_TAU_S,
)


class SafetyCircuitOpen(Fault):
    """A landing door contact or safety switch opens the safety chain of an idle car."""

    kind = "safety_circuit_open"
    defaults: ClassVar[dict[str, str]] = {"duration": "3m"}

    def arm(self, t: float) -> None:
        self.active = False
        if self.car.is_idle():
            self._open(t)

    def on_idle(self, t: float) -> None:
        if not self.active:
            self._open(t)

    def _open(self, t: float) -> None:
        self.active = True
        self.car.halt()
        self.ctx.state.safety[self.car.i] = False
        self.set_code("SAFETY_CIRCUIT")
        self.start = t
        self.at(t + max(30.0, self.dur("duration")), self._close)

    def _close(self, t: float) -> None:
        self.ctx.state.safety[self.car.i] = True
        self.set_code(None)
        car = self.car
        self.finish(t)
        car.resume(t)


class PowerLoss(Fault):
    """Mains failure: a moving car stops, the rescue device levels it and lets people out."""

    kind = "power_loss"
    defaults: ClassVar[dict[str, str]] = {"duration": "3m", "backup": "60s"}

    def arm(self, t: float) -> None:
        self._try(t)

    def _try(self, t: float) -> None:
        car = self.car
        # wait for the end of a door cycle so the doors are never left half-way
        if car.phase == DOORS and int(self.ctx.state.door[car.i]) != CLOSED:
            self.at(t + 0.5, self._try)
            return
        self.start = t
        s = self.ctx.state
        s.power[car.i] = BACKUP
        self.set_code("MAINS_FAILURE")
        running = car.phase == RUNNING
        car.halt()
        if running:
            rest = s.motion.emergency_stop(car.i, t)
            self.at(rest + 3.0, self._rescue)
        elif car.passengers:
            # at a landing with closed doors: the rescue device opens them at once
            car.evacuate(t)
        duration = max(30.0, self.dur("duration"))
        self.at(t + min(self.dur("backup"), duration - 1.0), self._battery_out)
        self.at(t + duration, self._restore)

    def _rescue(self, t: float) -> None:
        pos = self.ctx.state.motion.state(self.car.i, t)[0]
        k = int(np.abs(np.asarray(self.car.landings) - pos).argmin())
        self.car.floor = self.car.target = k
        arrival = self.car.move_to(t, self.car.landings[k])
        self.at(arrival + 0.5, self._let_out)

    def _let_out(self, t: float) -> None:
        if self.car.passengers:
            self.car.evacuate(t)

    def _battery_out(self, t: float) -> None:
        self.ctx.state.power[self.car.i] = NO_POWER

    def _restore(self, t: float) -> None:
        self.ctx.state.power[self.car.i] = MAINS
        self.set_code(None)
        car = self.car
        self.finish(t)
        car.resume(t)


class MotorOverheat(Fault):
    """Failed motor ventilation: the winding heats past 90 C and stays there."""

    kind = "motor_overheat"
    defaults: ClassVar[dict[str, str]] = {"target_c": "125", "tau": "5m", "hold": "3m"}

    def arm(self, t: float) -> None:
        s, i = self.ctx.state, self.car.i
        s.heat_extra[i] = max(100.0, self.num("target_c")) - float(s.ambient[i])
        s.tau[i] = self.dur("tau")
        self.repaired = False
        self.hold = max(90.0, self.dur("hold"))
        self.at(t + 1.0, self._watch)

    def _watch(self, t: float) -> None:
        s, i = self.ctx.state, self.car.i
        temp = float(s.temp[i])
        if not self.repaired:
            if temp > OVERHEAT_C and self.start is None:
                self.start = t
            if self.start is not None and t - self.start >= self.hold:
                self.repaired = True
                s.heat_extra[i] = 0.0
                s.tau[i] = THERMAL_TAU_S
        elif temp < OVERHEAT_C:
            self.finish(t)
            return
        self.at(t + 1.0, self._watch)


class AlarmPressed(Fault):
    """Someone holds the car's alarm button."""

    kind = "alarm_pressed"
    defaults: ClassVar[dict[str, str]] = {"duration": "15s"}

    def arm(self, t: float) -> None:
        self.ctx.state.alarm[self.car.i] = True
        self.start = t
        # under 30 s so a car standing with closed doors is not also a trapped passenger
        self.at(t + min(25.0, max(8.0, self.dur("duration"))), self._release)

    def _release(self, t: float) -> None:
        self.ctx.state.alarm[self.car.i] = False
        self.finish(t)


class Offline(Fault):
    """The monitoring device drops its connection (the broker sends its last will)."""

    kind = "offline"
    defaults: ClassVar[dict[str, str]] = {"duration": "3m", "reboot": "false"}

    def arm(self, t: float) -> None:
        s, i = self.ctx.state, self.car.i
        s.online[i] = False
        s.state_events.append((t, i, "offline"))
        self.start = t
        self.at(t + max(100.0, self.dur("duration")), self._back)

    def _back(self, t: float) -> None:
        s, i = self.ctx.state, self.car.i
        s.online[i] = True
        if self.flag("reboot"):
            s.reboots.add(i)
        s.state_events.append((t, i, "online"))
        self.finish(t)


class SealedInUse(Fault):
    """The car is used although an inspector sealed it (the harness seals it meanwhile)."""

    kind = "sealed_in_use"
    defaults: ClassVar[dict[str, str]] = {"duration": "10m", "runs": "2"}
    needs_trips = True

    def arm(self, t: float) -> None:
        self.start = t
        self.runs0 = self.car.runs
        self.at(t + max(60.0, self.dur("duration")), self._check)

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        self.details.setdefault("first_motion_ms", t)

    def _check(self, t: float) -> None:
        if self.car.runs - self.runs0 >= max(1, int(self.num("runs"))):
            self.finish(t)
        else:
            self.at(t + 15.0, self._check)
