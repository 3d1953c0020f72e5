"""Turning detections into alerts: raise, update and clear, each with its audit entry and
its outbox row (which publishes it).

Transitions come from the detection engine (``rules.engine.Transition``) or from the
calendar rules (:class:`Change`, the same shape). Automatic changes are made by the actor
``whistle``; an automatic resolve says ``whistle: condition cleared``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import psycopg
import structlog
from prometheus_client import Counter

from rules.policy import Rescue
from storage import alerts, outbox

log = structlog.get_logger(__name__)

TRANSITIONS = Counter("whistle_rules_transitions",
                      "Alert transitions applied, by kind and action", ["kind", "action"])


class TransitionLike(Protocol):
    """What lifecycle needs of a transition (rules.engine.Transition fits)."""

    @property
    def elevator_id(self) -> str: ...
    @property
    def elevator_pk(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def at_us(self) -> int: ...
    @property
    def severity(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """A transition not produced by the engine (calendar rules); same fields."""

    elevator_id: str
    elevator_pk: int
    kind: str
    action: Literal["raise", "update", "clear"]
    at_us: int
    severity: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Applied:
    """What a transition did: which alert, and the change ('raised', 'updated', 'resolved')."""

    alert_id: int
    elevator_pk: int
    kind: str
    change: str


def at(us: int) -> datetime:
    """An epoch-microsecond time as an aware datetime."""
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def rescue_clock(*, now: datetime, rescue: Rescue) -> dict[str, Any]:
    """The rescue clock of a new trapped-passenger alert (details.rescue)."""
    return {"started_at": now.isoformat(),
            "deadline_at": (now + timedelta(seconds=rescue.arrive_within_s)).isoformat(),
            "limit_s": rescue.arrive_within_s, "acknowledged_after_s": None,
            "arrived_after_s": None, "late": False}


def apply(conn: psycopg.Connection, *, transitions: Iterable[TransitionLike], now: datetime,
          rescue: Rescue) -> list[Applied]:
    """Write transitions in one transaction (each in a savepoint); what was done."""
    done: list[Applied] = []
    with conn.transaction():
        for t in transitions:
            try:
                with conn.transaction():
                    applied = _apply_one(conn, t, now, rescue)
            except psycopg.errors.IntegrityError as exc:  # e.g. elevator deleted meanwhile
                log.warning("transition not applied", elevator=t.elevator_id, kind=t.kind,
                            action=t.action, error=str(exc))
                continue
            if applied is not None:
                done.append(applied)
                TRANSITIONS.labels(t.kind, t.action).inc()
    return done


def _apply_one(conn: psycopg.Connection, t: TransitionLike, now: datetime, rescue: Rescue
               ) -> Applied | None:
    details = dict(t.details)
    if t.action == "raise":
        if t.kind in rescue.kinds:
            details["rescue"] = rescue_clock(now=now, rescue=rescue)
        alert_id, opened = alerts.raise_or_update(
            conn, elevator_pk=t.elevator_pk, kind=t.kind, severity=t.severity,
            opened_at=at(t.at_us), details=details, now=now)
        change = "raised" if opened else "updated"
        alerts.add_event(conn, alert_id=alert_id, action=change, actor=alerts.WHISTLE, at=now,
                         details={"severity": t.severity, "at": at(t.at_us).isoformat(),
                                  "details": t.details})
    elif t.action == "update":
        found = alerts.update_open(conn, elevator_pk=t.elevator_pk, kind=t.kind,
                                   severity=t.severity, details=details, now=now)
        if found is None:
            log.debug("update of an alert that is not open", elevator=t.elevator_id,
                      kind=t.kind)
            return None
        alert_id, change = found, "updated"
        alerts.add_event(conn, alert_id=alert_id, action="updated", actor=alerts.WHISTLE,
                         at=now, details={"severity": t.severity, "details": t.details})
    elif t.action == "clear":
        found = alerts.clear_open(conn, elevator_pk=t.elevator_pk, kind=t.kind, now=now,
                                  details={"at": at(t.at_us).isoformat(), **t.details})
        if found is None:
            return None
        alert_id, change = found, "resolved"
        alerts.add_event(conn, alert_id=alert_id, action="resolved", actor=alerts.WHISTLE,
                         at=now, details={"by": alerts.CLEARED_BY,
                                          "at": at(t.at_us).isoformat(),
                                          "details": t.details})
    else:
        raise ValueError(f"unknown transition action {t.action!r}")
    outbox.record_change(conn, alert_id=alert_id, change=change, actor=alerts.WHISTLE)
    return Applied(alert_id, t.elevator_pk, t.kind, change)
