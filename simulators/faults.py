"""Injectable faults: one per alert kind of the contract, each with its telemetry signature.

A fault is attached to one car at its scheduled time (*armed*). Some act at once (alarm,
power loss, offline); others wait for the situation they need (a run with passengers, a
stop at the top landing, the next door closing) and, when the car sits idle, make that
situation happen by sending it a passenger or an empty run. Every fault holds its
signature longer than the contract's rule needs, records the interval in which the
signature shows in telemetry as ground truth (``start``..``end``), and then lets the car
return to normal service.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from simulators.car import DOORS, RUNNING
from simulators.durations import parse_duration
from simulators.motion import Drive, ramp_time, rest_position
from simulators.state import (
    BACKUP,
    CLOSED,
    CLOSING,
    MAINS,
    NO_POWER,
    OPEN,
    OPENING,
    THERMAL_TAU_S,
    FleetState,
)

if TYPE_CHECKING:
    from simulators.car import Car

POKE_S = 8.0  # an idle car gets a passenger this long after a fault starts waiting for one
OVERHEAT_C = 90.0
TRAPPED_ZONE_M = 0.2


class FaultContext(Protocol):
    """What a fault needs from the fleet."""

    state: FleetState
    period_s: float

    def record(self, fault: Fault) -> None:
        """Store the fault's ground-truth record."""


class Fault:
    """Base class: timers, parameters, ground truth and default hooks."""

    kind: ClassVar[str] = ""
    defaults: ClassVar[dict[str, str]] = {}
    needs_trips: ClassVar[bool] = False
    empty_trips: ClassVar[bool] = False  # force runs without passengers (parking moves)

    def __init__(self, car: Car, params: dict[str, str], ctx: FaultContext,
                 rng: np.random.Generator) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.kind} takes no parameter {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(sorted(self.defaults)) or 'none'}")
        self.car = car
        self.ctx = ctx
        self.rng = rng
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.next_t = math.inf
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._n = 0
        self.armed_at = 0.0
        self.start: float | None = None
        self.end: float | None = None
        self.details: dict[str, Any] = {}
        self.done = False

    # -- parameters ---------------------------------------------------------------------
    def num(self, name: str) -> float:
        """A numeric parameter."""
        return float(self.params[name])

    def dur(self, name: str) -> float:
        """A duration parameter in seconds."""
        return parse_duration(str(self.params[name]))

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        """A parameter from a set of options; 'random' picks one with the fault's rng."""
        value = str(self.params[name])
        if value == "random":
            value = options[int(self.rng.integers(len(options)))]
        if value not in options:
            raise ValueError(f"{self.kind}: {name} must be one of {options} or random")
        self.params[name] = value
        return value

    def flag(self, name: str) -> bool:
        """A boolean parameter."""
        return str(self.params[name]).lower() in ("1", "true", "yes", "on")

    # -- timers -------------------------------------------------------------------------
    def at(self, t: float, fn: Callable[[float], None]) -> None:
        """Call fn at time t."""
        heapq.heappush(self._timers, (t, self._n, fn))
        self._n += 1
        self.next_t = self._timers[0][0]
        self.car.sync()

    def on_timer(self, t: float) -> None:
        """Run the due timers (the car calls this)."""
        while self._timers and self._timers[0][0] <= t and not self.done:
            _, _, fn = heapq.heappop(self._timers)
            fn(t)
        self.next_t = self._timers[0][0] if self._timers and not self.done else math.inf

    # -- life cycle ---------------------------------------------------------------------
    def attach(self, t: float) -> None:
        """Arm the fault on its car at time t."""
        self.car.fault = self
        self.armed_at = t
        self.arm(t)
        if self.needs_trips and self.car.is_idle() and not self.done:
            self.on_idle(t)
        self.car.sync()

    def arm(self, t: float) -> None:
        """Called once when the fault is attached."""

    def finish(self, t: float) -> None:
        """Detach from the car and record the ground truth."""
        if self.done:
            return
        self.done = True
        if self.end is None:
            self.end = t
        self._timers.clear()
        self.next_t = math.inf
        self.car.fault = None
        self.car.sync()
        if self.start is not None:
            self.ctx.record(self)

    def set_code(self, code: str | None) -> None:
        """Set or clear the controller fault code the device reports."""
        if code is None:
            self.ctx.state.fault_code.pop(self.car.i, None)
        else:
            self.ctx.state.fault_code[self.car.i] = code

    # -- forcing activity ---------------------------------------------------------------
    def on_idle(self, t: float) -> None:
        """The car has gone idle; faults that need runs send it somewhere."""
        if self.needs_trips and not self.done:
            self.at(t + POKE_S, self._poke)

    def _poke(self, t: float) -> None:
        if self.car.is_idle() and not self.done:
            self.car.trip(t, self.trip_dest(), passenger=not self.empty_trips)

    def trip_dest(self) -> int:
        """Landing to send an idle car to: far away, so runs are long."""
        n = len(self.car.landings)
        f = self.car.floor
        far = [k for k in range(n) if abs(k - f) >= max(3, n // 3)]
        return int(far[int(self.rng.integers(len(far)))]) if far else (0 if f else n - 1)

    # -- hooks (defaults do nothing) ----------------------------------------------------
    def drive(self, t: float, floor: int, drive: Drive) -> Drive:
        """The motion limits of the run about to start."""
        return drive

    def stop_offset(self, t: float, floor: int, offset: float) -> float:
        """Where the run about to start will stop relative to the landing, m."""
        return offset

    def on_run_start(self, t: float, floor: int, arrival: float) -> None:
        """A run has been planned and started."""

    def on_arrive(self, t: float) -> bool:
        """The car came to rest; return True to take over."""
        return False

    def on_stop(self, t: float) -> None:
        """The doors are about to open at a landing."""

    def on_close(self, t: float) -> bool:
        """The doors are about to close; return True to take over."""
        return False

    def trace(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, positions, speeds) of the car every 10 ms."""
        return self.ctx.state.motion.trace(self.car.i, t0, t1)


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


FAULTS: dict[str, type[Fault]] = {cls.kind: cls for cls in (
    TrappedPassenger, DoorOpenWhileMoving, Overspeed, Overrun, SafetyCircuitOpen, PowerLoss,
    LevelingError, DoorFault, MotorOverheat, AbnormalVibration, AlarmPressed, Offline,
    SealedInUse)}
