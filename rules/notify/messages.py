"""The JSON bodies of webhook messages.

One alert::

    {"id": "<message uuid>", "event": "alert.raised", "created_at": "...",
     "org": {"id": 3, "name": "...", "kind": "property"}, "level": 0,
     "alert": {<the alert object>}}

A group (storm control)::

    {"id": ..., "event": "alerts.raised", "created_at": ..., "org": {...},
     "site": {"id": 1, "name": "...", "district": "..."}, "kind": "power_loss",
     "elevators": ["E1", "E2", ...], "alerts": [{...}, ...],
     "storm": {"since": "...", "size": 40}}

One case (the case object of CONTRACT section 6, without contacts)::

    {"id": ..., "event": "case.escalated", "created_at": ..., "org": {...}, "level": 2,
     "case": {<the case object>}}

A group of cases (storm control: many cases of one kind at one site)::

    {"id": ..., "event": "cases.opened", "created_at": ..., "org": {...}, "level": 0,
     "site": {...}, "kind": "fault", "elevators": [...], "cases": [{...}, ...],
     "storm": {"since": "...", "size": 12}}
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

# change recorded in the outbox -> webhook event of one alert
EVENTS = {
    "raised": "alert.raised",
    "escalated": "alert.escalated",
    "acknowledged": "alert.acknowledged",
    "arrived": "alert.arrived",
    "resolved": "alert.resolved",
    "rescue_late": "alert.rescue_late",
    "unsilenced": "alert.unsilenced",  # a silence that held its notifications is over
}


# change recorded in the case outbox -> webhook event of one case ("reported": a resident's
# report joined or opened it). Other changes (alert_added, noted) go on MQTT only.
CASE_EVENTS = {change: f"case.{change}" for change in (
    "opened", "escalated", "on_duty", "arrived", "rescued", "resolved", "closed", "cancelled",
    "reopened", "overdue", "late", "reported", "unsilenced")}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def encode(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(body, default=str, separators=(",", ":"), ensure_ascii=False).encode()


def single(*, message_id: uuid.UUID, change: str, org: dict[str, Any], alert: dict[str, Any],
           level: int | None, now: float) -> dict[str, Any]:
    """The body of a message about one alert."""
    return {"id": str(message_id), "event": EVENTS[change], "created_at": _iso(now),
            "org": org, "level": level, "alert": alert}


def grouped(*, message_id: uuid.UUID, change: str, org: dict[str, Any],
            alerts: list[dict[str, Any]], storm_since: float, storm_size: int, now: float
            ) -> dict[str, Any]:
    """The body of one message about many alerts of one kind at one site."""
    first = alerts[0]
    return {"id": str(message_id), "event": f"alerts.{change}", "created_at": _iso(now),
            "org": org,
            "site": {"id": first.get("site_id"), "name": first.get("site_name"),
                     "district": first.get("district")},
            "kind": first.get("kind"),
            "elevators": sorted({a["elevator_id"] for a in alerts}),
            "alerts": alerts,
            "storm": {"since": _iso(storm_since), "size": storm_size}}


def case_single(*, message_id: uuid.UUID, change: str, org: dict[str, Any],
                case: dict[str, Any], level: int, now: float) -> dict[str, Any]:
    """The body of a message about one case."""
    return {"id": str(message_id), "event": CASE_EVENTS[change], "created_at": _iso(now),
            "org": org, "level": level, "case": case}


def case_grouped(*, message_id: uuid.UUID, change: str, org: dict[str, Any],
                 cases: list[dict[str, Any]], storm_since: float, storm_size: int,
                 now: float) -> dict[str, Any]:
    """The body of one message about many cases of one kind at one site."""
    first = cases[0]
    return {"id": str(message_id), "event": f"cases.{change}", "created_at": _iso(now),
            "org": org, "level": max(int(c.get("level") or 0) for c in cases),
            "site": {"id": first.get("site_id"), "name": first.get("site_name"),
                     "district": first.get("district")},
            "kind": first.get("kind"),
            "elevators": sorted({c["elevator_id"] for c in cases if c.get("elevator_id")}),
            "cases": cases,
            "storm": {"since": _iso(storm_since), "size": storm_size}}
