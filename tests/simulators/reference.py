"""A plain reference reading of CONTRACT section 2, used to check the simulator's signatures.

It is deliberately simple and slow (per-sample Python): it says, for one elevator's
decoded samples, at which event times each alert kind's raise condition is met. The
simulator's faults must meet it inside their ground-truth window, and normal service must
never meet it.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import butter, sosfiltfilt

STATIONARY = 0.05
GAP_MS = 2000


@dataclass
class Elevator:
    """What the reference needs to know of a registered elevator."""

    rated_speed: float
    landings: list[float]


@dataclass
class Hits:
    """Event times (ms) at which each kind's condition was met."""

    times: dict[str, list[int]] = field(default_factory=dict)

    def add(self, kind: str, ts: int) -> None:
        self.times.setdefault(kind, []).append(ts)

    def kinds(self) -> set[str]:
        return set(self.times)


def _held(samples: list[Any], cond: list[bool], seconds: float, kind: str, hits: Hits) -> None:
    """Raise kind where cond holds on every sample for `seconds` (gaps <= 2 s allowed)."""
    since = None
    prev_ts = None
    for s, c in zip(samples, cond, strict=True):
        ts = s.ts
        if not c or (prev_ts is not None and ts - prev_ts > GAP_MS):
            since = None
        if c:
            if since is None:
                since = ts
            if ts - since >= seconds * 1000:
                hits.add(kind, ts)
        prev_ts = ts


def stops_and_runs(samples: list[Any]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """([(ts, level)] of stops, [(ts, vibration)] of runs between consecutive stops)."""
    stops: list[tuple[int, float]] = []
    runs: list[tuple[int, float]] = []
    period: list[Any] = []
    run_z: list[float] = []
    hz = None
    seen_stop = False

    def close_period() -> None:
        nonlocal seen_stop, run_z
        if period and any(p.door != "closed" for p in period):
            levels = [p.level_mm for p in period if p.level_mm is not None]
            if levels:
                if seen_stop and len(run_z) > 200 and hz:
                    runs.append((period[0].ts, run_vibration(np.array(run_z), hz)))
                stops.append((period[0].ts, statistics.median(levels)))
                seen_stop = True
                run_z = []
        period.clear()

    for s in samples:
        at_landing = abs(s.speed_mps) <= STATIONARY and s.level_mm is not None
        if at_landing:
            period.append(s)
        else:
            close_period()
        if s.accel is not None and not at_landing:
            run_z.extend(s.accel.z)
            hz = s.accel.hz
    close_period()
    return stops, runs


def run_vibration(z: np.ndarray, hz: float) -> float:
    """RMS of the run's acceleration after removing what is below 1 Hz."""
    sos = butter(2, 1.0, btype="highpass", fs=hz, output="sos")
    return float(np.sqrt(np.mean(sosfiltfilt(sos, z) ** 2)))


def evaluate(samples: list[Any], elevator: Elevator, states: list[tuple[int, str]] = ()
             ) -> Hits:
    """Where each alert kind's raise condition holds in one elevator's samples."""
    samples = sorted(samples, key=lambda s: s.ts)
    hits = Hits()
    top, bottom = elevator.landings[-1], elevator.landings[0]
    reversals: deque[int] = deque()
    closing_since = None
    prev = None
    for s in samples:
        v = abs(s.speed_mps)
        if v > 0.1 and (s.door != "closed" or s.door_lock is False):
            hits.add("door_open_while_moving", s.ts)
        if v > 1.15 * elevator.rated_speed:
            hits.add("overspeed", s.ts)
        if s.pos_m is not None and (s.pos_m > top + 0.3 or s.pos_m < bottom - 0.3):
            hits.add("overrun", s.ts)
        if s.safety_chain is False and s.mode not in ("inspection", "maintenance"):
            hits.add("safety_circuit_open", s.ts)
        if prev is not None and s.ts - prev.ts > GAP_MS:
            closing_since = None
        if s.door == "closing":
            closing_since = closing_since if closing_since is not None else s.ts
            if s.ts - closing_since >= 60_000:
                hits.add("door_fault", s.ts)
        else:
            closing_since = None
        if prev is not None and prev.door == "closing" and s.door == "opening":
            reversals.append(s.ts)
            while reversals[0] < s.ts - 120_000:
                reversals.popleft()
            if len(reversals) >= 5:
                hits.add("door_fault", s.ts)
        prev = s
    _held(samples, [abs(s.speed_mps) <= STATIONARY and s.door == "closed"
                    and bool(s.occupied or s.alarm) for s in samples], 30, "trapped_passenger",
          hits)
    _held(samples, [s.power in ("backup", "none") for s in samples], 10, "power_loss", hits)
    _held(samples, [s.motor_temp_c is not None and s.motor_temp_c > 90 for s in samples], 60,
          "motor_overheat", hits)
    _held(samples, [bool(s.alarm) for s in samples], 5, "alarm_pressed", hits)
    stops, runs = stops_and_runs(samples)
    for k, (ts, level) in enumerate(stops):
        last5 = [abs(lv) for _, lv in stops[max(0, k - 4): k + 1]]
        if abs(level) > 20 or sum(lv > 10 for lv in last5) >= 3:
            hits.add("leveling_error", ts)
    normal: list[float] = []
    above = 0
    for ts, vib in runs:
        baseline = statistics.median(normal[-50:]) if len(normal) >= 10 else None
        if baseline is not None and vib > 2 * baseline:
            above += 1
            if above >= 3:
                hits.add("abnormal_vibration", ts)
        else:
            above = 0
            if baseline is None or vib < 1.5 * baseline:
                normal.append(vib)
    last = None
    for s in samples:
        if last is not None and s.ts - last > 90_000:
            hits.add("offline", s.ts)
        last = s.ts
    for ts, state in states:
        if state == "offline":
            hits.add("offline", ts)
    return hits
