"""Builders for the detection tests: hand-made sample sequences fed to an in-memory engine.

(No tests here; the name keeps it among the detection engine's files.) A :class:`Car`
writes samples at 1 Hz and keeps its own clock and position: ``rest``, ``ride``,
``stop`` (a door cycle at a landing) and friends append samples, ``feed`` hands them to
the engine in batches and returns the transitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.codec import Accel, Sample, Telemetry
from core.stream import Committed
from rules import ElevatorInfo, Engine, Transition
from rules import thresholds as rules_config

T0_US = 1_741_071_600_000_000  # 2025-03-04 07:00 UTC
US = 1_000_000
LANDINGS = tuple(3.0 * i for i in range(11))  # floors 0..10, 3 m apart
RATED_SPEED = 2.0
ACCEL_HZ = 100


def info(pk: int = 1, eid: str = "E1", *, model: str | None = None, sealed: bool = False,
         rated_speed: float = RATED_SPEED) -> ElevatorInfo:
    """A registered elevator with eleven landings 3 m apart."""
    return ElevatorInfo(pk=pk, id=eid, model=model, rated_speed_mps=rated_speed,
                        rated_load_kg=1000.0, landings_m=LANDINGS, sealed=sealed)


def engine(*infos: ElevatorInfo, rules: str = "") -> Engine:
    """An engine with the default rules (plus a rule file's text) and the given elevators."""
    return Engine(rules_config.loads(rules, "test.toml"), infos or (info(),))


@dataclass
class Car:
    """Writes one elevator's samples at 1 Hz (by default), keeping time and position."""

    pk: int = 1
    eid: str = "E1"
    t_us: int = T0_US
    pos: float = 0.0
    period_s: float = 1.0
    vib: float = 0.05  # RMS of the ride vibration in accel windows
    samples: list[tuple[int, Sample]] = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))

    @property
    def floor(self) -> int:
        """Nearest floor."""
        return round(self.pos / 3.0)

    def emit(self, **fields: Any) -> None:
        """One sample at the current time; then the clock advances one period."""
        fields.setdefault("floor", self.floor)
        fields.setdefault("speed_mps", 0.0)
        fields.setdefault("door", "closed")
        fields.setdefault("pos_m", round(self.pos, 3))
        fields.setdefault("seq", len(self.samples))
        self.samples.append((self.t_us, Sample(ts=self.t_us // 1000, **fields)))
        self.t_us += int(self.period_s * US)

    def rest(self, seconds: float, **fields: Any) -> None:
        """Stationary samples for seconds."""
        for _ in range(round(seconds / self.period_s)):
            self.emit(**fields)

    def ride(self, to_floor: int, *, speed: float = 1.5, accel: bool = False,
             vib: float | None = None, **fields: Any) -> None:
        """Move to a floor at constant speed (plus a stationary arrival sample)."""
        target = LANDINGS[to_floor]
        direction = 1.0 if target > self.pos else -1.0
        steps = max(2, math.ceil(abs(target - self.pos) / speed / self.period_s))
        start = self.pos
        for k in range(1, steps + 1):
            self.pos = start + (target - start) * k / steps
            extra = dict(fields)
            if accel:
                extra["accel"] = self.window(vib)
            v = direction * speed if k < steps else 0.0
            self.emit(speed_mps=v, **extra)

    def window(self, vib: float | None = None) -> Accel:
        """One period of accel at ACCEL_HZ: a 12 Hz tone plus noise of RMS vib."""
        n = int(ACCEL_HZ * self.period_s)
        level = self.vib if vib is None else vib
        t = np.arange(n) / ACCEL_HZ
        z = level * (np.sin(2 * np.pi * 12 * t) + self.rng.standard_normal(n)) / math.sqrt(1.5)
        return Accel(hz=ACCEL_HZ, z=[round(float(x), 4) for x in z])

    def stop(self, *, level_mm: float = 0.5, open_s: int = 2, dwell_s: int = 3,
             closing_s: int = 3, **fields: Any) -> None:
        """A door cycle at the current landing: opening, open, closing, closed."""
        for door, seconds in (("opening", open_s), ("open", dwell_s), ("closing", closing_s)):
            self.rest(seconds, door=door, level_mm=level_mm, **fields)
        self.emit(door="closed", level_mm=level_mm, **fields)

    def trip(self, to_floor: int, **fields: Any) -> None:
        """A ride and a stop with the doors cycling."""
        self.ride(to_floor, **{k: v for k, v in fields.items() if k in ("accel", "vib")})
        self.stop(**{k: v for k, v in fields.items() if k not in ("accel", "vib")})

    def take(self) -> list[tuple[int, Sample]]:
        """The samples written since the last take."""
        out, self.samples = self.samples, []
        return out


def batch(samples: Iterable[tuple[int, Sample]], pk: int = 1, eid: str = "E1",
          states: list[tuple[str, int, str, int]] | None = None) -> Committed:
    """One committed message per sample."""
    return Committed([(eid, pk, Telemetry([s], [t])) for t, s in samples], states or [])


def feed(e: Engine, samples: list[tuple[int, Sample]], *, size: int = 1, pk: int = 1,
         eid: str = "E1") -> list[Transition]:
    """Process samples in batches of size; the transitions of all batches."""
    out: list[Transition] = []
    for i in range(0, len(samples), size):
        chunk = samples[i:i + size]
        out += e.process(batch(chunk, pk, eid), now_us=chunk[-1][0])
    return out


def raised(transitions: Iterable[Transition], kind: str | None = None) -> list[Transition]:
    """The raise transitions (of one kind)."""
    return [t for t in transitions if t.action == "raise" and (kind is None or t.kind == kind)]


def of(transitions: Iterable[Transition], kind: str, action: str) -> list[Transition]:
    """Transitions of one kind and action."""
    return [t for t in transitions if t.kind == kind and t.action == action]
