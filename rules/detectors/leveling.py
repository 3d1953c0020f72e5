"""Levelling: the median ``level_mm`` of each stop, judged over the last stops.

A *stop* is a stationary period at a landing in which the doors open. It starts when a
moving car comes to rest, counts once the doors open within the door zone, and ends when
the doors are closed again (or the car moves); its level is the median of the level_mm
samples from arrival to that end. Before its doors open a car may be parked anywhere:
those samples are only kept until the stop counts or the car moves on.
"""

from __future__ import annotations

import numpy as np

from rules.detectors.base import Alerts, Round
from rules.state import CLOSED, KIND_INDEX, LEVEL_BUFFER, OPEN, OPENING, Col

KIND = "leveling_error"
NONE, ARRIVED, STOP, DONE = 0.0, 1.0, 2.0, 3.0
ZONE_KIND = "trapped_passenger"  # the door zone is configured once, with the trapped rule


def step(r: Round, alerts: Alerts) -> None:
    """Track stops and judge their levels on one round."""
    if r.late:
        return
    state = r.get(Col.STOP_STATE)
    arrive = r.prev_moving & r.stationary
    if arrive.any():
        state = np.where(arrive, ARRIVED, state)
        r.put(Col.STOP_T0, r.ts, arrive)
        r.put(Col.STOP_N, 0.0, arrive)
    # moving on ends every stop; a stop whose doors opened is judged first
    leave = r.moving & (state != NONE)
    stopped = r.stationary & ((state == ARRIVED) | (state == STOP))
    has_level = stopped & ~np.isnan(r.level)
    if has_level.any():
        idx = np.flatnonzero(has_level)
        n = r.get(Col.STOP_N)[idx].astype(np.intp)
        keep = n < LEVEL_BUFFER
        r.table.levels[r.slots[idx[keep]], n[keep]] = r.level[idx[keep]]
        counts = r.get(Col.STOP_N)
        counts[idx[keep]] += 1
        r.put(Col.STOP_N, counts)
    door_open = (r.door == OPENING) | (r.door == OPEN)
    qualify = (state == ARRIVED) & r.stationary & door_open
    done = (state == STOP) & ((r.stationary & (r.door == CLOSED)) | r.moving)
    events = qualify | done | leave
    if events.any():
        zone = r.param(ZONE_KIND, "door_zone_m")
        for j in np.flatnonzero(events).tolist():
            if qualify[j]:
                near = r.nearest_landing(j)
                if near is None or near[1] <= zone[j]:
                    state[j] = STOP
                    r.f[r.row(j), Col.STOP_POS] = near[0] if near is not None else np.nan
            elif done[j]:
                _judge(r, alerts, j)
                state[j] = NONE if r.moving[j] else DONE
            else:
                state[j] = NONE
    r.put(Col.STOP_STATE, state)


def _judge(r: Round, alerts: Alerts, j: int) -> None:
    """A stop has ended: add its median level to the history and raise or clear."""
    row, slot = r.row(j), int(r.slots[j])
    n = int(r.f[row, Col.STOP_N])
    if n == 0 or r.supp[j, KIND_INDEX[KIND]]:
        return
    level = float(np.median(r.table.levels[slot, :n]))
    mem = r.memory[j]
    keep = int(r.param_at(j, KIND, "of_last_stops"))
    mem.stop_levels = ([*mem.stop_levels, round(level, 1)])[-keep:]
    limit = r.param_at(j, KIND, "limit_mm")
    good = abs(level) <= limit
    mem.stop_good = mem.stop_good + 1 if good else 0
    t = float(r.ts[j])
    bad = sum(1 for x in mem.stop_levels if abs(x) > limit)
    relevel = abs(level) > r.param_at(j, KIND, "relevel_limit_mm")
    landing = r.f[row, Col.STOP_POS]
    details = {**r.base_details(j), "level_mm": round(level, 1), "last_levels_mm":
               list(mem.stop_levels), "bad_stops": bad,
               "reason": "relevel_limit" if relevel else "repeated"}
    if not np.isnan(landing):
        details["landing_m"] = float(landing)
    if alerts.is_open(r, j, KIND):
        if mem.stop_good >= r.param_at(j, KIND, "clear_good_stops"):
            alerts.clear(r, j, KIND, t, {"good_stops": mem.stop_good})
        elif not good:
            alerts.update(r, j, KIND, t, details)
    elif (relevel or bad >= r.param_at(j, KIND, "bad_stops")) and alerts.raise_(
            r, j, KIND, t, details):
        mem.stop_good = 0
