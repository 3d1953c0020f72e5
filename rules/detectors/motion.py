"""Motion faults judged sample by sample: doors open while moving, overspeed, overrun,
and motion of a car an inspector has sealed."""

from __future__ import annotations

import numpy as np

from rules.detectors.base import Alerts, Details, Round, timed
from rules.state import CLOSED

ELEVATOR = "elevator"  # parameter "kind" of registry values (rated speed, landings)
SPEED_STEP_MPS = 0.05  # a new peak this much higher is worth an update
EXCURSION_STEP_M = 0.05


def step(r: Round, alerts: Alerts) -> None:
    """Evaluate the motion kinds on one round."""
    _door_open_while_moving(r, alerts)
    _overspeed(r, alerts)
    _overrun(r, alerts)
    _sealed_in_use(r, alerts)


def _door_open_while_moving(r: Round, alerts: Alerts) -> None:
    kind = "door_open_while_moving"
    cond = (r.spd > r.param(kind, "speed_mps")) & ((r.door != CLOSED) | ~r.lock)

    def details(j: int) -> Details:
        return {**r.base_details(j), "door_lock": bool(r.lock[j])}

    timed(r, alerts, kind, raise_cond=cond, raise_s=0.0, clear_cond=r.stationary,
          clear_s=r.param(kind, "clear_hold_s"), details=details, metric=r.spd,
          metric_step=SPEED_STEP_MPS)


def _overspeed(r: Round, alerts: Alerts) -> None:
    kind = "overspeed"
    rated = r.param(ELEVATOR, "rated_speed_mps")
    cond = r.spd > r.param(kind, "factor") * rated
    clear = r.spd < r.param(kind, "clear_factor") * rated

    def details(j: int) -> Details:
        return {**r.base_details(j), "max_speed_mps": round(float(r.spd[j]), 3),
                "rated_speed_mps": float(rated[j]),
                "ratio": round(float(r.spd[j] / rated[j]), 3)}

    timed(r, alerts, kind, raise_cond=cond, raise_s=0.0, clear_cond=clear,
          clear_s=r.param(kind, "clear_hold_s"), details=details, metric=r.spd,
          metric_step=SPEED_STEP_MPS)


def _overrun(r: Round, alerts: Alerts) -> None:
    kind = "overrun"
    lo, hi = r.param(ELEVATOR, "lowest_landing_m"), r.param(ELEVATOR, "top_landing_m")
    margin, back = r.param(kind, "margin_m"), r.param(kind, "clear_margin_m")
    pos = r.pos
    with np.errstate(invalid="ignore"):
        beyond = np.fmax(pos - hi, lo - pos)  # NaN without pos_m: never raises or clears
        cond = beyond > margin
        clear = beyond <= back

    def details(j: int) -> Details:
        top = bool(pos[j] > hi[j])
        return {**r.base_details(j), "end": "top" if top else "bottom",
                "landing_m": float(hi[j] if top else lo[j]),
                "beyond_m": round(float(beyond[j]), 3)}

    timed(r, alerts, kind, raise_cond=cond, raise_s=0.0, clear_cond=clear,
          clear_s=r.param(kind, "clear_hold_s"), details=details, metric=beyond,
          metric_step=EXCURSION_STEP_M)


def _sealed_in_use(r: Round, alerts: Alerts) -> None:
    kind = "sealed_in_use"
    cond = r.sealed & r.moving

    def details(j: int) -> Details:
        return {**r.base_details(j), "sealed": True}

    timed(r, alerts, kind, raise_cond=cond, raise_s=0.0, clear_cond=r.stationary,
          clear_s=r.param(kind, "clear_stationary_s"), details=details,
          clear_now=~r.sealed)
