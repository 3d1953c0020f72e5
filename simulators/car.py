"""One car's controller: door cycles, runs between landings, passengers in and out.

The controller is event driven and runs in Python, one car at a time, only when something
happens (a door finishes moving, a run ends, a passenger steps in). What telemetry reports
between events is read from :class:`~simulators.state.FleetState` and the car's motion
program by the vectorised sampler. A fault attached to the car may take over at the hooks
of :class:`~simulators.faults.Fault`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from simulators.buildings import ElevatorSpec
from simulators.group import Call, Group, Passenger
from simulators.motion import Drive
from simulators.state import CLOSED, CLOSING, OPEN, OPENING, FleetState

if TYPE_CHECKING:
    from simulators.faults import Fault

IDLE, DOORS, RUNNING, HALTED = 0, 1, 2, 3

START_DELAY_S = 0.6  # doors locked to brake lifted
ARRIVAL_DELAY_S = 0.3  # car at rest to doors starting to open
HOLD_S = 1.2  # doors held open after the last passenger has passed the light curtain
DWELL_HALL_S = 3.0
DWELL_CAR_S = 2.0
REVERSAL_P = 0.05  # someone steps into the closing doors
REVERSAL_WINDOW_S = 120.0
MAX_REVERSALS = 3  # then the controller "nudges": closes slowly, ignoring the curtain
LEVEL_SIGMA_MM = 1.2
LEVEL_LIMIT_MM = 3.0
RELEVEL = Drive(speed=0.3, accel=0.4, jerk=0.8)


class Car:
    """The controller of one elevator car."""

    def __init__(self, index: int, spec: ElevatorSpec, group: Group, state: FleetState,
                 rng: np.random.Generator, *, period_s: float) -> None:
        self.i = index
        self.spec = spec
        self.group = group
        self.s = state
        self.rng = rng
        self.landings = spec.landings_m
        self.floor = spec.lobby_index
        self.target = self.floor
        self.dir = 0
        self.phase = IDLE
        self.in_service = True
        self.car_calls: set[int] = set()
        self.hall: set[Call] = set()
        self.passengers: list[Passenger] = []
        self.serving: int | None = None
        self.now = 0.0
        self.next_t = math.inf
        self._fn: Callable[[float], None] | None = None
        self.fault: Fault | None = None
        self.bypass = False  # door lock bypassed: the car may move with doors open
        self.reversals: deque[float] = deque()
        self.closed_at = -math.inf
        self.close_started = 0.0
        self.door_frac = 1.0
        self.dwell_until = 0.0
        self.runs = 0
        self.stops = 0
        self.run_started = -math.inf
        # a door that reopens sooner than this after closing looks like a reversal
        self.visible_s = max(0.5, 1.5 * period_s)
        self.capacity = int(spec.rated_load_kg // 75)
        self.drive = Drive(speed=spec.rated_speed_mps * float(rng.uniform(0.96, 0.99)),
                           accel=spec.accel_mps2, jerk=spec.jerk_mps3)
        self.open_s = float(rng.uniform(2.0, 2.6))
        self.close_s = float(rng.uniform(2.6, 3.4))
        self.board_s = float(rng.uniform(0.9, 1.3))

    # -- scheduling ---------------------------------------------------------------------
    def _at(self, t: float, fn: Callable[[float], None]) -> None:
        self.next_t, self._fn = t, fn
        self.sync()

    def schedule(self, t: float, fn: Callable[[float], None]) -> None:
        """Make fn(t) the car's next event (for faults that steer the car)."""
        self._at(t, fn)

    def cancel(self) -> None:
        """Drop the car's pending event."""
        self.next_t, self._fn = math.inf, None
        self.sync()

    def sync(self) -> None:
        """Publish the car's next event time to the fleet's due array."""
        tf = self.fault.next_t if self.fault is not None else math.inf
        self.s.next_evt[self.i] = min(self.next_t, tf)

    def advance(self, t: float) -> None:
        """Process every event of this car (and its fault) up to time t."""
        while True:
            fault = self.fault
            tf = fault.next_t if fault is not None else math.inf
            tc = self.next_t
            if tc <= tf:
                if tc > t:
                    break
                fn = self._fn
                self.next_t, self._fn = math.inf, None
                self.now = tc
                if fn is not None:
                    fn(tc)
            else:
                if tf > t:
                    break
                assert fault is not None
                fault.next_t = math.inf
                self.now = tf
                fault.on_timer(tf)
        self.now = max(self.now, t)
        self.sync()

    # -- what the group sees ------------------------------------------------------------
    def available(self) -> bool:
        """True when the car can take hall calls."""
        return self.in_service and self.phase != HALTED

    def full(self) -> bool:
        """True when nobody else fits in."""
        return (len(self.passengers) >= self.capacity
                or float(self.s.load[self.i]) > 0.85 * self.spec.rated_load_kg)

    def cost(self, floor: int, direction: int) -> float:
        """A rough time-to-serve estimate used to pick the car for a hall call."""
        here = self.target if self.phase == RUNNING else self.floor
        dist = abs(floor - here)
        stops = len(self.car_calls) + len(self.hall)
        if self.phase == IDLE:
            return float(dist)
        ahead = (floor - here) * self.dir >= 0
        if self.dir == 0 or (ahead and direction == self.dir):
            return dist + 2.0 * stops
        return dist + 2.0 * len(self.landings) + 2.0 * stops

    def assign(self, t: float, floor: int, direction: int) -> None:
        """The group gives this car a hall call."""
        self.hall.add((floor, direction))
        if self.phase == IDLE and self.in_service:
            self._dispatch(t)
        else:
            self.on_waiting(t, (floor, direction))

    def on_waiting(self, t: float, call: Call) -> None:
        """Someone joined a call this car holds: hold or reopen the doors if it is here."""
        if self.phase != DOORS or call[0] != self.floor or self.next_t <= t:
            return
        door = int(self.s.door[self.i])
        if door in (OPENING, OPEN) and self.serving is None and (
                not self.passengers or call[1] == self.dir):
            self.serving = call[1]
        elif (door == CLOSING and self.serving == call[1] and self.fault is None
              and t - self.close_started >= self.visible_s and self._reversal_ok(t)):
            self._reverse(t)

    # -- helpers ------------------------------------------------------------------------
    def _set_door(self, code: int) -> None:
        self.s.door[self.i] = code
        self.s.lock[self.i] = code == CLOSED and not self.bypass

    def set_door(self, code: int) -> None:
        """Set the door state (for faults that drive the doors themselves)."""
        self._set_door(code)

    def _set_load(self) -> None:
        self.s.load[self.i] = sum(p.weight_kg for p in self.passengers)
        self.s.npass[self.i] = len(self.passengers)

    def _reversal_ok(self, t: float) -> bool:
        while self.reversals and self.reversals[0] < t - REVERSAL_WINDOW_S:
            self.reversals.popleft()
        return len(self.reversals) < MAX_REVERSALS

    def _target_in(self, d: int) -> tuple[int, int] | None:
        f = self.floor
        if d > 0:
            ahead = [c for c in self.car_calls if c > f]
            ahead += [h for h, hd in self.hall if hd > 0 and h > f]
            if ahead:
                return min(ahead), 1
            beyond = [h for h, hd in self.hall if hd < 0 and h > f]
            if beyond:
                return max(beyond), 1
        else:
            ahead = [c for c in self.car_calls if c < f]
            ahead += [h for h, hd in self.hall if hd < 0 and h < f]
            if ahead:
                return max(ahead), -1
            beyond = [h for h, hd in self.hall if hd > 0 and h < f]
            if beyond:
                return min(beyond), -1
        return None

    def next_target(self) -> tuple[int, int] | None:
        """(landing, direction) of the next stop by collective control, or None."""
        d = self.dir or 1
        for direction in (d, -d):
            found = self._target_in(direction)
            if found is not None:
                return found
        if not self.full():
            for call in ((self.floor, d), (self.floor, -d)):
                if call in self.hall:
                    return call
        return None

    def _serve_dir(self) -> int | None:
        f, d = self.floor, self.dir or 1
        if (f, d) in self.hall:
            return d
        if (f, -d) in self.hall and (self._target_in(d) is None or not self.passengers):
            self.dir = -d
            return -d
        return None

    def level_offset_m(self) -> float:
        """Where the car comes to rest relative to the landing sill on a normal stop."""
        mm = float(np.clip(self.rng.normal(0.0, LEVEL_SIGMA_MM), -LEVEL_LIMIT_MM, LEVEL_LIMIT_MM))
        return mm / 1000.0

    # -- the cycle ----------------------------------------------------------------------
    def dispatch(self, t: float) -> None:
        """Decide what to do with the doors closed at a landing (public for faults)."""
        self._dispatch(t)

    def _dispatch(self, t: float) -> None:
        if not self.in_service:
            return
        target = self.next_target()
        if target is None:
            self.phase, self.dir, self.serving = IDLE, 0, None
            if self.fault is not None:
                self.fault.on_idle(t)
            if self.phase == IDLE:
                self.group.car_idle(self, t)
            return
        floor, d = target
        self.phase = DOORS
        if floor == self.floor:
            self.dir = d
            self.serving = d
            delay = 0.0
            if t - self.closed_at < self.visible_s:
                if self._reversal_ok(t):
                    self.reversals.append(t)
                else:
                    delay = self.closed_at + self.visible_s - t
            self.door_frac = 1.0
            self._at(t + delay, self._open)
            return
        self.dir = 1 if floor > self.floor else -1
        self._at(t + START_DELAY_S, self.start_run)

    def start_run(self, t: float) -> None:
        """Start the run to the next stop (doors closed, or bypassed by a fault)."""
        target = self.next_target()
        if target is None or target[0] == self.floor:
            self._dispatch(t)
            return
        floor = target[0]
        self.dir = 1 if floor > self.floor else -1
        self.target = floor
        offset = self.level_offset_m()
        drive = self.drive
        if self.fault is not None:
            drive = self.fault.drive(t, floor, drive)
            offset = self.fault.stop_offset(t, floor, offset)
        arrival = self.s.motion.run(self.i, t, self.landings[floor] + offset, drive)
        self.phase = RUNNING
        self.run_started = t
        self._at(arrival, self._arrive)
        if self.fault is not None:
            self.fault.on_run_start(t, floor, arrival)

    def move_to(self, t: float, position: float, drive: Drive = RELEVEL) -> float:
        """Move the car at low speed to a position (rescue, relevelling); returns arrival."""
        return self.s.motion.run(self.i, t, position, drive)

    def _arrive(self, t: float) -> None:
        self.floor = self.target
        self.runs += 1
        self.phase = DOORS
        if self.fault is not None and self.fault.on_arrive(t):
            return
        self.arrived(t)

    def arrived(self, t: float) -> None:
        """Normal handling of a car at rest at self.floor: open for whoever needs it."""
        self.car_calls.discard(self.floor)
        self.phase = DOORS
        serve = self._serve_dir()
        exits = any(p.dest == self.floor for p in self.passengers)
        door = int(self.s.door[self.i])
        if serve is None and not exits and door == CLOSED:
            self._dispatch(t)
            return
        self.serving = serve
        self.stops += 1
        if self.fault is not None:
            self.fault.on_stop(t)
        if door == OPEN:
            self._opened(t)
            return
        self.door_frac = 1.0
        self._at(t + ARRIVAL_DELAY_S, self._open)

    def _open(self, t: float) -> None:
        self.phase = DOORS
        self._set_door(OPENING)
        self._at(t + self.open_s * self.door_frac, self._opened)

    def _opened(self, t: float) -> None:
        self._set_door(OPEN)
        self.dwell_until = t + (DWELL_HALL_S if self.serving is not None else DWELL_CAR_S)
        self._at(t + 0.5, self._exchange)

    def _exchange(self, t: float) -> None:
        for k, p in enumerate(self.passengers):
            if p.dest == self.floor:
                del self.passengers[k]
                self._moved(t)
                return
        if self.serving is not None and not self.full():
            p2 = self.group.board((self.floor, self.serving))
            if p2 is not None:
                self.passengers.append(p2)
                self.car_calls.add(p2.dest)
                self._moved(t)
                return
        if t < self.dwell_until:
            self._at(self.dwell_until, self._exchange)
            return
        self.close(t)

    def _moved(self, t: float) -> None:
        self._set_load()
        step = self.board_s * float(self.rng.uniform(0.8, 1.25))
        self.dwell_until = max(self.dwell_until, t + step + HOLD_S)
        self._at(t + step, self._exchange)

    def close(self, t: float) -> None:
        """Start closing the doors (a fault may take over)."""
        if self.serving is not None:
            self.group.leave(self, t, (self.floor, self.serving))
        if self.fault is not None and self.fault.on_close(t):
            return
        self.close_started = t
        self._set_door(CLOSING)
        if self.rng.random() < REVERSAL_P and self._reversal_ok(t):
            # late enough in the closing that a sample shows the doors closing
            earliest = min(0.8, max(0.3, self.visible_s / self.close_s))
            at = self.close_s * float(self.rng.uniform(earliest, 0.85))
            self._at(t + at, self._reverse)
        else:
            self._at(t + self.close_s, self.closed)

    def _reverse(self, t: float) -> None:
        self.reversals.append(t)
        self.door_frac = min(1.0, (t - self.close_started) / self.close_s)
        self._open(t)

    def closed(self, t: float) -> None:
        """The doors are closed and locked: decide the next move."""
        self._set_door(CLOSED)
        self.closed_at = t
        self.door_frac = 1.0
        self._dispatch(t)

    # -- what faults use ----------------------------------------------------------------
    def halt(self) -> None:
        """Take the car out of service where it is; its hall calls go to other cars."""
        self.cancel()
        self.phase = HALTED
        self.in_service = False
        self.group.release(self, self.now)

    def resume(self, t: float) -> None:
        """Return the car to service after a fault."""
        self.in_service = True
        self.phase = DOORS
        door = int(self.s.door[self.i])
        if door == OPEN:
            self.serving = None
            self.dwell_until = t + DWELL_CAR_S
            self._at(t, self._exchange)
        elif door == CLOSED:
            self.closed_at = -math.inf
            self._dispatch(t)
        else:
            self._set_door(OPEN)
            self.dwell_until = t + DWELL_CAR_S
            self._at(t, self._exchange)
        if self.phase == IDLE:
            self.group.car_idle(self, t)

    def evacuate(self, t: float) -> None:
        """Open the doors at the current landing and let every passenger out (rescue)."""
        self.passengers = [Passenger(self.floor, p.weight_kg) for p in self.passengers]
        self.car_calls.clear()
        self.serving = None
        self.phase = DOORS
        self.door_frac = 1.0
        self._open(t)

    def trip(self, t: float, dest: int, *, passenger: bool = True) -> None:
        """Make the car travel to dest: with a passenger from here, or empty (parking)."""
        if dest == self.floor:
            return
        if passenger:
            self.group.spawn(self, t, dest)
        else:
            self.car_calls.add(dest)
            if self.phase == IDLE:
                self._dispatch(t)

    def is_idle(self) -> bool:
        """At rest with doors closed and nothing to do."""
        return self.phase == IDLE and self.in_service
