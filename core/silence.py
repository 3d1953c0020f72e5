"""Silences (issue 15): while one lasts, the notifications of matching alerts (and of the
cases made only of them) wait; the alerts are still raised, recorded, escalated and
counted. Never for a life-safety kind."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.domain import AlertKind

__all__ = ["LIFE_SAFETY", "covers"]

LIFE_SAFETY = frozenset({AlertKind.TRAPPED_PASSENGER.value,
                         AlertKind.DOOR_OPEN_WHILE_MOVING.value, AlertKind.OVERSPEED.value,
                         AlertKind.SEALED_IN_USE.value})


def covers(silences: Iterable[Mapping[str, Any]], *, elevator_id: str | None,
           site_id: int | None, kind: str) -> int | None:
    """The id of an active silence covering an alert of ``kind`` at that elevator (or
    site), or None. A life-safety kind is never covered, whatever was stored."""
    if kind in LIFE_SAFETY:
        return None
    for s in silences:
        if kind not in s["kinds"]:
            continue
        if (s["elevator_id"] is not None and s["elevator_id"] == elevator_id) or (
                s["site_id"] is not None and s["site_id"] == site_id):
            return int(s["id"])
    return None
