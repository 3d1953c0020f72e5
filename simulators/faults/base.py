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

from simulators.durations import parse_duration
from simulators.motion import Drive
from simulators.state import (
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
