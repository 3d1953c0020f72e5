"""Equipment conditions with durations: safety circuit, power, motor temperature, alarm."""

from __future__ import annotations

import numpy as np

from rules.detectors.base import Alerts, Details, Round, timed
from rules.state import MAINS

POWER_NAMES = ("mains", "backup", "none")
TEMP_STEP_C = 5.0  # a motor this much hotter than last reported is worth an update


def step(r: Round, alerts: Alerts) -> None:
    """Evaluate the equipment kinds on one round."""
    _safety_circuit(r, alerts)
    _power_loss(r, alerts)
    _motor_overheat(r, alerts)
    _alarm_pressed(r, alerts)


def _safety_circuit(r: Round, alerts: Alerts) -> None:
    kind = "safety_circuit_open"

    def details(j: int) -> Details:
        return {**r.base_details(j), "safety_chain": False}

    timed(r, alerts, kind, raise_cond=~r.chain, raise_s=r.param(kind, "duration_s"),
          clear_cond=r.chain, clear_s=r.param(kind, "clear_hold_s"), details=details)


def _power_loss(r: Round, alerts: Alerts) -> None:
    kind = "power_loss"
    off = r.power != MAINS

    def details(j: int) -> Details:
        return {**r.base_details(j), "power": POWER_NAMES[int(r.power[j])]}

    timed(r, alerts, kind, raise_cond=off, raise_s=r.param(kind, "duration_s"),
          clear_cond=~off, clear_s=r.param(kind, "clear_hold_s"), details=details,
          metric=r.power.astype(float), metric_step=1.0)


def _motor_overheat(r: Round, alerts: Alerts) -> None:
    kind = "motor_overheat"
    temp = r.temp
    with np.errstate(invalid="ignore"):
        hot = temp > r.param(kind, "threshold_c")
        cool = temp < r.param(kind, "clear_below_c")

    def details(j: int) -> Details:
        return {**r.base_details(j), "motor_temp_c": round(float(temp[j]), 1),
                "threshold_c": r.param_at(j, kind, "threshold_c")}

    timed(r, alerts, kind, raise_cond=hot, raise_s=r.param(kind, "duration_s"),
          clear_cond=cool, clear_s=r.param(kind, "clear_hold_s"), details=details,
          metric=temp, metric_step=TEMP_STEP_C)


def _alarm_pressed(r: Round, alerts: Alerts) -> None:
    kind = "alarm_pressed"

    def details(j: int) -> Details:
        return {**r.base_details(j), "alarm": True, "occupied": bool(r.occupied[j])}

    timed(r, alerts, kind, raise_cond=r.alarm, raise_s=r.param(kind, "duration_s"),
          clear_cond=~r.alarm, clear_s=r.param(kind, "clear_hold_s"), details=details)
