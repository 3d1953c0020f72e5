"""Passenger traffic with daily patterns: who calls a car, when, from where to where.

Rates follow the local hour of the day. A residential tower has a morning *down* peak
(people leave home), a lunch bump and an evening *up* peak; an office block has the
classic morning up-peak, lunch two-way traffic and an evening down-peak; both are quiet at
night. Each trip is incoming (from the lobby or the basement to a floor above), outgoing
(the reverse) or interfloor. Offices are nearly empty at weekends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.buildings import OFFICE, RESIDENTIAL, BuildingType

# hour: (relative volume, incoming share, outgoing share); the rest is interfloor
_RESIDENTIAL = [
    (0.4, 0.55, 0.35), (0.2, 0.5, 0.4), (0.1, 0.5, 0.4), (0.1, 0.4, 0.5), (0.15, 0.3, 0.65),
    (0.5, 0.15, 0.8), (2.5, 0.1, 0.85), (7.5, 0.1, 0.85), (8.0, 0.12, 0.8), (4.5, 0.3, 0.6),
    (3.5, 0.45, 0.45), (4.5, 0.5, 0.4), (5.0, 0.5, 0.42), (4.5, 0.45, 0.45), (3.5, 0.45, 0.45),
    (3.5, 0.5, 0.4), (4.5, 0.6, 0.32), (7.0, 0.75, 0.2), (8.0, 0.75, 0.2), (6.5, 0.65, 0.28),
    (5.0, 0.55, 0.35), (3.5, 0.55, 0.35), (2.0, 0.6, 0.3), (1.0, 0.6, 0.3),
]
_OFFICE = [
    (0.05, 0.5, 0.5), (0.03, 0.5, 0.5), (0.03, 0.5, 0.5), (0.03, 0.5, 0.5), (0.05, 0.5, 0.5),
    (0.1, 0.8, 0.2), (0.5, 0.85, 0.1), (4.0, 0.9, 0.05), (14.0, 0.9, 0.05), (8.0, 0.75, 0.1),
    (4.0, 0.3, 0.2), (5.0, 0.25, 0.45), (9.0, 0.25, 0.55), (8.0, 0.6, 0.25), (4.0, 0.3, 0.25),
    (4.0, 0.3, 0.3), (5.0, 0.2, 0.6), (12.0, 0.05, 0.85), (7.0, 0.05, 0.85), (2.5, 0.1, 0.8),
    (1.0, 0.2, 0.7), (0.5, 0.3, 0.6), (0.3, 0.3, 0.6), (0.1, 0.4, 0.5),
]
_PATTERNS = {RESIDENTIAL: np.array(_RESIDENTIAL), OFFICE: np.array(_OFFICE)}
OFFICE_WEEKEND_FACTOR = 0.08


@dataclass(frozen=True, slots=True)
class Trip:
    """One passenger: when they press the hall button, where from and to, how heavy."""

    t: float
    group: int
    origin: int  # landing index, 0 = lowest
    dest: int
    weight_kg: float


def hourly_share(kind: str, hour: float, weekday: int) -> tuple[float, float, float]:
    """(share of the day's trips per hour, incoming, outgoing) at a local hour of the day."""
    table = _PATTERNS[kind]
    # interpolate between hour centres so rates change smoothly
    x = (hour - 0.5) % 24.0
    i0 = int(x)
    f = x - i0
    row = table[i0] * (1 - f) + table[(i0 + 1) % 24] * f
    volume = row[0] / table[:, 0].sum()
    if weekday >= 5:
        if kind == OFFICE:
            volume *= OFFICE_WEEKEND_FACTOR
        else:
            # weekends at home: later and flatter than weekdays
            volume = 0.5 * volume + 0.5 * (1.0 / 24.0 if 8 <= hour < 22 else 0.2 / 24.0)
    return float(volume), float(row[1]), float(row[2])


class Traffic:
    """Draws the trips of every group of cars for one interval at a time."""

    def __init__(self, group_types: list[BuildingType], rng: np.random.Generator, *,
                 scale: float = 1.0) -> None:
        self.types = group_types
        self.rng = rng
        self.scale = scale
        self.kinds = sorted({t.kind for t in group_types})
        self.by_kind = {k: np.array([i for i, t in enumerate(group_types) if t.kind == k],
                                    dtype=np.intp) for k in self.kinds}
        self.daily = np.array([t.daily_trips_per_group for t in group_types])

    def draw(self, t0: float, t1: float, *, hour: float, weekday: int) -> list[Trip]:
        """Trips whose hall call falls in [t0, t1), sorted by time."""
        trips: list[Trip] = []
        for kind in self.kinds:
            groups = self.by_kind[kind]
            share, incoming, outgoing = hourly_share(kind, hour, weekday)
            lam = self.daily[groups] * share / 3600.0 * (t1 - t0) * self.scale
            counts = self.rng.poisson(lam)
            total = int(counts.sum())
            if not total:
                continue
            who = np.repeat(groups, counts)
            times = self.rng.uniform(t0, t1, total)
            kinds = self.rng.random(total)
            picks = self.rng.random((total, 3))
            weights = np.clip(self.rng.normal(75.0, 14.0, total), 30.0, 140.0)
            for n in range(total):
                g = int(who[n])
                origin, dest = self._route(self.types[g], kinds[n], incoming, outgoing,
                                           picks[n])
                trips.append(Trip(float(times[n]), g, origin, dest, round(float(weights[n]), 1)))
        trips.sort(key=lambda trip: trip.t)
        return trips

    @staticmethod
    def _route(btype: BuildingType, u: float, incoming: float, outgoing: float,
               pick: NDArray[np.float64]) -> tuple[int, int]:
        """(origin, dest) landing indexes of one trip."""
        lobby = btype.lobby_floor - btype.min_floor
        n = len(btype.floor_heights_m) + 1
        upper = n - lobby - 1
        entrance = lobby if pick[0] < 0.8 or lobby == 0 else int(pick[0] * 997) % lobby
        floor = lobby + 1 + int(pick[1] * upper) % upper
        if u < incoming:
            return entrance, floor
        if u < incoming + outgoing:
            return floor, entrance
        other = lobby + 1 + int(pick[2] * upper) % upper
        if other == floor:
            other = lobby + 1 + (floor - lobby) % upper
        return floor, other
