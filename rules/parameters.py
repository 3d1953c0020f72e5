"""Per-elevator parameters of the engine: thresholds, severities and suppressions.

Each elevator ("slot") gets one row of numeric parameters, one column per numeric
(kind, key) of its threshold profile plus the registry values the detectors need (rated
speed and load, lowest and top landing), a severity per kind, and for every (kind, mode)
whether the kind is suppressed in that mode (``suppress_in``, or the kind disabled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rules.state import KINDS, MODE_CODES, N_MODES, BoolArray, FloatArray
from rules.thresholds import RulesConfig

__all__ = ["ELEVATOR", "ELEVATOR_PARAMS", "ElevatorInfo", "Parameters"]

ELEVATOR = "elevator"  # parameter "kind" of registry values
ELEVATOR_PARAMS = ("rated_speed_mps", "rated_load_kg", "lowest_landing_m", "top_landing_m")


@dataclass(frozen=True, slots=True)
class ElevatorInfo:
    """What the engine needs of the registry."""

    pk: int
    id: str
    model: str | None
    rated_speed_mps: float
    rated_load_kg: float
    landings_m: tuple[float, ...]
    sealed: bool
    decommissioned: bool = False  # watched no more: no alert is raised for it


def _columns(config: RulesConfig) -> dict[tuple[str, str], int]:
    cols: dict[tuple[str, str], int] = {}
    for key in ELEVATOR_PARAMS:
        cols[(ELEVATOR, key)] = len(cols)
    for kind in KINDS:
        for key, value in config.rules[kind].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                cols[(kind, key)] = len(cols)
    return cols


class Parameters:
    """The parameter rows of every slot; grows with the fleet."""

    def __init__(self, config: RulesConfig) -> None:
        self.columns = _columns(config)
        self.values: FloatArray = np.zeros((0, len(self.columns)))
        self.suppress: BoolArray = np.zeros((0, len(KINDS), N_MODES), dtype=bool)
        self.severity: list[dict[str, str]] = []

    def column(self, kind: str, key: str) -> int:
        """Column index of a parameter."""
        return self.columns[(kind, key)]

    def ensure(self, capacity: int) -> None:
        """Room for ``capacity`` slots."""
        have = self.values.shape[0]
        if have < capacity:
            extra = capacity - have
            self.values = np.concatenate([self.values, np.zeros((extra, len(self.columns)))])
            self.suppress = np.concatenate(
                [self.suppress, np.zeros((extra, len(KINDS), N_MODES), dtype=bool)])
        while len(self.severity) < capacity:
            self.severity.append({})

    def resolve(self, slot: int, config: RulesConfig, info: ElevatorInfo) -> None:
        """Load one elevator's thresholds, severities and suppressions from the config."""
        profile = config.profile(info.id, info.model)
        landings_m = info.landings_m
        row = self.values[slot]
        for (kind, key), col in self.columns.items():
            if kind != ELEVATOR:
                row[col] = float(profile[kind][key])  # type: ignore[arg-type]
        row[self.column(ELEVATOR, "rated_speed_mps")] = info.rated_speed_mps
        row[self.column(ELEVATOR, "rated_load_kg")] = info.rated_load_kg
        row[self.column(ELEVATOR, "lowest_landing_m")] = landings_m[0] if landings_m else math.nan
        row[self.column(ELEVATOR, "top_landing_m")] = landings_m[-1] if landings_m else math.nan
        self.severity[slot] = {kind: str(profile[kind]["severity"]) for kind in KINDS}
        for k, kind in enumerate(KINDS):
            params = profile[kind]
            modes = params.get("suppress_in", [])
            assert isinstance(modes, list)
            for mode, code in MODE_CODES.items():
                self.suppress[slot, k, code] = (not params.get("enabled", True)
                                                or mode in modes)
