"""Traces of the cars whose counted faults need the deciding moment from telemetry, and
the reference time of each fault (when the contract's condition was met)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.config import TRACED, US
from rules.thresholds import RulesConfig


@dataclass
class Trace:
    """Samples of one elevator while it carries a fault whose deciding event is traced."""

    ts: list[int] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    door: list[str] = field(default_factory=list)
    level: list[float] = field(default_factory=list)


def door_decided(tr: Trace, start_us: int, cfg: dict[str, Any]) -> int | None:
    """First moment of 5 reversals within 2 min, or of doors closing for 60 s."""
    need, window = int(cfg["reversals"]), cfg["reversal_window_s"] * US
    reversals: deque[int] = deque()
    closing_since: int | None = None
    prev = None
    for t, d in zip(tr.ts, tr.door, strict=True):
        if t >= start_us:
            if prev == "closing" and d in ("opening", "open"):
                reversals.append(t)
                while reversals[0] <= t - window:
                    reversals.popleft()
                if len(reversals) >= need:
                    return t
            if d == "closing":
                closing_since = t if closing_since is None else closing_since
                if t - closing_since >= cfg["closing_s"] * US:
                    return t
            else:
                closing_since = None
        prev = d
    return None


def level_decided(tr: Trace, start_us: int, cfg: dict[str, Any]) -> int | None:
    """End of the stop at which 3 of the last 5 stops (or one stop) were off level."""
    levels: list[float] = []
    history: list[float] = []
    arrived = stop = False
    was_moving = False
    for t, v, d, lv in zip(tr.ts, tr.speed, tr.door, tr.level, strict=True):
        moving = abs(v) > 0.05
        if was_moving and not moving:
            arrived, stop, levels = True, False, []
        if arrived and not moving:
            if not math.isnan(lv):
                levels.append(lv)
            if d in ("opening", "open"):
                stop = True
            elif d == "closed" and stop:
                arrived = stop = False
                if t >= start_us and levels:
                    history = [*history, float(np.median(levels))][-int(cfg["of_last_stops"]):]
                    level = history[-1]
                    bad = sum(1 for x in history if abs(x) > cfg["limit_mm"])
                    if abs(level) > cfg["relevel_limit_mm"] or bad >= cfg["bad_stops"]:
                        return t
        if moving:
            arrived = stop = False
        was_moving = moving
    return None


def runs_decided(tr: Trace, start_us: int, cfg: dict[str, Any],
                  params: dict[str, Any]) -> int | None:
    """End of the 3rd run since the fault began whose wear factor is above 2x."""
    factor, ramp = float(params["factor"]), int(params["ramp_runs"])
    # the simulator's wear at its n-th worn run; the fault starts at the first one >= 2
    wear = [1.0 + (factor - 1.0) * min(1.0, n / ramp) for n in range(1, 10 * ramp)]
    first = next(n for n, w in enumerate(wear) if w >= cfg["factor"])
    above = [w > cfg["factor"] for w in wear[first:]]
    runs = bad = 0
    run_start: int | None = None
    for t, v in zip(tr.ts, tr.speed, strict=True):
        moving = abs(v) > 0.05
        if moving and run_start is None:
            run_start = t
        elif not moving and run_start is not None:
            if run_start >= start_us and t - run_start >= cfg["min_run_s"] * US:
                bad = bad + 1 if runs < len(above) and above[runs] else 0
                runs += 1
                if bad >= cfg["bad_runs"]:
                    return t
            run_start = None
    return None


def motion_decided(tr: Trace, start_us: int) -> int | None:
    """First moving sample at or after start."""
    return next((t for t, v in zip(tr.ts, tr.speed, strict=True)
                 if t >= start_us and abs(v) > 0.05), None)


def reference_time(kind: str, record: dict[str, Any], trace: Trace | None,
                   config: RulesConfig, raise_details: dict[str, Any] | None = None
                   ) -> int | None:
    """Epoch us at which the contract's condition was met for an injected fault."""
    start = int(record["start_ms"]) * 1000
    rules = config.rules[kind]
    if kind in TRACED:
        if trace is None:
            return None
        if kind == "door_fault":
            return door_decided(trace, start, dict(rules))
        if kind == "leveling_error":
            return level_decided(trace, start, dict(rules))
        if kind == "abnormal_vibration":
            return runs_decided(trace, start, dict(rules), record["params"])
        return motion_decided(trace, start)
    if kind == "offline" and (raise_details or {}).get("reason") == "silent":
        return start + int(float(rules["timeout_s"]) * US)  # type: ignore[arg-type]
    duration = rules.get("duration_s", 0.0)
    return start + int(float(duration) * US)  # type: ignore[arg-type]


# -- the run ---------------------------------------------------------------------------------

