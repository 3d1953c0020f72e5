"""Trapped passengers: a stationary car with closed doors and someone inside, for 30 s."""

from __future__ import annotations

import numpy as np

from rules.detectors.base import US, Alerts, Details, Round, timed
from rules.state import CLOSED, KIND_INDEX, OPEN, OPENING, KindCol

KIND = "trapped_passenger"


def step(r: Round, alerts: Alerts) -> None:
    """Evaluate trapped_passenger on one round."""
    someone = r.occupied | r.alarm
    cond = r.stationary & (r.door == CLOSED) & someone
    zone = r.param(KIND, "door_zone_m")
    # "doors open at a landing" clears at once; only rows with an open alert need the
    # (Python) distance to the nearest landing
    k = KIND_INDEX[KIND]
    opened = ((r.door == OPENING) | (r.door == OPEN)) & r.open[r.rows, k]
    clear_now = np.zeros(r.m, dtype=bool)
    for j in np.flatnonzero(opened).tolist():
        near = r.nearest_landing(j)
        clear_now[j] = near is None or near[1] <= zone[j]

    def details(j: int) -> Details:
        d: Details = {**r.base_details(j), "occupied": bool(r.occupied[j]),
                      "alarm": bool(r.alarm[j])}
        near = r.nearest_landing(j)
        if near is not None:
            d["zone"] = "between_floors" if near[1] > zone[j] else "at_landing"
            d["nearest_landing_m"] = near[0]
        since = r.a[r.row(j), KindCol.RSINCE, k]
        start = since if not np.isnan(since) else r.ts[j]
        d["trapped_since_us"] = int(start)
        d["trapped_for_s"] = int((r.ts[j] - start) // US)
        return d

    timed(r, alerts, KIND, raise_cond=cond, raise_s=r.param(KIND, "duration_s"),
          clear_cond=~someone, clear_s=r.param(KIND, "clear_hold_s"), details=details,
          clear_now=clear_now, held_metric_step=r.param(KIND, "update_every_s"))
