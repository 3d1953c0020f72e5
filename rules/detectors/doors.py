"""Door faults: closing that never ends, repeated reversals, and slowly degrading closing.

A *door cycle* runs from ``opening`` to ``closed``; a *reversal* is a ``closing`` sample
followed by an ``opening`` one (or ``open``: at one sample a second a short reopening can
fall between two samples). door_fault clears after 3 normal cycles in a row (no reversal,
closed in time). The extension kind ``door_closing_slow`` (warning) compares the median
closing time of the last cycles with the median of the cycles before them.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from rules.detectors.base import US, Alerts, Round, hold
from rules.state import CLOSED, CLOSING, DOOR_CLOSING_SLOW, KIND_INDEX, OPEN, OPENING, Col

KIND = "door_fault"
SLOW = DOOR_CLOSING_SLOW


def step(r: Round, alerts: Alerts) -> None:
    """Evaluate door_fault and door_closing_slow on one round."""
    if r.late:
        return
    k = KIND_INDEX[KIND]
    closing = r.door == CLOSING
    since = hold(r, r.get(Col.DOOR_CLOSING_SINCE), closing)
    r.put(Col.DOOR_CLOSING_SINCE, since)
    limit_us = r.param(KIND, "closing_s") * US
    stuck = closing & (r.ts - since >= limit_us) & ~r.supp[:, k] & ~r.open[r.rows, k]
    prev = r.prev_door
    changed = (r.door != prev) & ~np.isnan(prev)
    for j in np.flatnonzero(stuck | changed).tolist():
        if changed[j]:
            _door_changed(r, alerts, j, int(prev[j]), int(r.door[j]))
        if stuck[j]:
            alerts.raise_(r, j, KIND, r.ts[j], {
                **r.base_details(j), "reason": "stuck_closing",
                "closing_for_s": round(float(r.ts[j] - since[j]) / US, 1)})
            r.memory[j].door_normal_cycles = 0


def _door_changed(r: Round, alerts: Alerts, j: int, prev: int, cur: int) -> None:
    mem = r.memory[j]
    t = float(r.ts[j])
    k = KIND_INDEX[KIND]
    if prev == CLOSING and cur in (OPENING, OPEN):
        mem.door_reversed = True
        if not r.supp[j, k]:
            window = r.param_at(j, KIND, "reversal_window_s") * US
            mem.reversals = [x for x in mem.reversals if x > t - window] + [t]
            if len(mem.reversals) >= r.param_at(j, KIND, "reversals"):
                _reversals(r, alerts, j, t)
    if cur in (OPENING, OPEN) and not mem.door_in_cycle:
        mem.door_in_cycle = True
        mem.door_reversed = prev == CLOSING
    if cur == CLOSING and prev != CLOSING:
        mem.door_closing_started = t
    if cur == CLOSED:
        _cycle_done(r, alerts, j, t)


def _reversals(r: Round, alerts: Alerts, j: int, t: float) -> None:
    mem = r.memory[j]
    window_s = r.param_at(j, KIND, "reversal_window_s")
    details = {**r.base_details(j), "reason": "reversals",
               "reversals": len(mem.reversals), "window_s": window_s}
    if alerts.is_open(r, j, KIND):
        alerts.update(r, j, KIND, t, details)
    else:
        alerts.raise_(r, j, KIND, t, details)
    mem.door_normal_cycles = 0


def _cycle_done(r: Round, alerts: Alerts, j: int, t: float) -> None:
    """The doors reached closed: judge the cycle that just ended."""
    mem = r.memory[j]
    if not mem.door_in_cycle:
        mem.door_closing_started = math.nan
        return
    started = mem.door_closing_started
    closing_s = (t - started) / US if not math.isnan(started) else math.nan
    normal = (not mem.door_reversed and not math.isnan(closing_s)
              and closing_s < r.param_at(j, KIND, "closing_s"))
    mem.door_in_cycle = False
    mem.door_reversed = False
    mem.door_closing_started = math.nan
    if alerts.is_open(r, j, KIND):
        mem.door_normal_cycles = mem.door_normal_cycles + 1 if normal else 0
        enough = mem.door_normal_cycles >= r.param_at(j, KIND, "clear_cycles")
        if enough and alerts.clear(r, j, KIND, t, {"normal_cycles": mem.door_normal_cycles}):
            mem.door_normal_cycles = 0
    if normal and not r.supp[j, KIND_INDEX[SLOW]]:
        _closing_time(r, alerts, j, t, closing_s)


def _closing_time(r: Round, alerts: Alerts, j: int, t: float, closing_s: float) -> None:
    """Track the closing time of normal cycles; warn when the recent median drifts up."""
    mem = r.memory[j]
    recent_n = int(r.param_at(j, SLOW, "recent_cycles"))
    base_n = int(r.param_at(j, SLOW, "baseline_cycles"))
    mem.close_recent.append(round(closing_s, 3))
    while len(mem.close_recent) > recent_n:
        mem.close_base.append(mem.close_recent.pop(0))
    del mem.close_base[:-base_n or None]
    if len(mem.close_recent) < recent_n or len(mem.close_base) < r.param_at(
            j, SLOW, "min_baseline_cycles"):
        return
    recent = statistics.median(mem.close_recent)
    base = statistics.median(mem.close_base)
    details = {**r.base_details(j), "closing_median_s": recent, "baseline_s": base}
    is_open = alerts.is_open(r, j, SLOW)
    if (not is_open and recent > r.param_at(j, SLOW, "factor") * base
            and recent - base >= r.param_at(j, SLOW, "min_increase_s")):
        alerts.raise_(r, j, SLOW, t, details)
    elif is_open and recent <= r.param_at(j, SLOW, "clear_factor") * base:
        alerts.clear(r, j, SLOW, t, {"closing_median_s": recent})
