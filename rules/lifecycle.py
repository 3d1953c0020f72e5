"""Turning transitions into alerts: raise, update and clear through the alert-change seam
(:mod:`storage.alerts.changes`), which writes each with its audit entry and its outbox row.

A new alert that people must answer opens a case (or joins the elevator's open one) in
the same transaction: a rescue kind opens a ``rescue`` case, any other critical or major
alert the elevator's ``fault`` case (CONTRACT section 6).

Transitions come from the detection engine and from the calendar rules
(:class:`rules.transitions.Transition`). Automatic changes are made by the actor
``whistle``; an automatic resolve says ``whistle: condition cleared``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from prometheus_client import Counter

from core.cases import DEFAULT_LIMITS, CaseKind, CaseLimits
from core.domain import Severity
from rules.policy import Rescue
from rules.transitions import Transition
from storage.alerts import AlertChange, changes
from storage.cases import changes as case_changes
from storage.decommission import decommissioned

log = structlog.get_logger(__name__)

TRANSITIONS = Counter("whistle_rules_transitions",
                      "Alert transitions applied, by kind and action", ["kind", "action"])


def at(us: int) -> datetime:
    """An epoch-microsecond time as an aware datetime."""
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def rescue_clock(*, now: datetime, rescue: Rescue) -> dict[str, Any]:
    """The rescue clock of a new trapped-passenger alert (details.rescue)."""
    return {"started_at": now.isoformat(),
            "deadline_at": (now + timedelta(seconds=rescue.arrive_within_s)).isoformat(),
            "limit_s": rescue.arrive_within_s, "acknowledged_after_s": None,
            "arrived_after_s": None, "late": False}


CASE_SEVERITIES = (Severity.CRITICAL.value, Severity.MAJOR.value)


def apply(conn: psycopg.Connection, *, transitions: Iterable[Transition], now: datetime,
          rescue: Rescue, cases: dict[CaseKind, CaseLimits] | None = None
          ) -> list[AlertChange]:
    """Write transitions in one transaction (each in a savepoint); what was done. Nothing
    is raised for a decommissioned elevator (the engine may not have heard of it yet)."""
    done: list[AlertChange] = []
    transitions = list(transitions)
    with conn.transaction():
        retired = decommissioned(conn, [t.elevator_pk for t in transitions
                                        if t.action == "raise"])
        for t in transitions:
            if t.action == "raise" and t.elevator_pk in retired:
                log.info("no alert for a decommissioned elevator", elevator=t.elevator_id,
                         kind=t.kind)
                continue
            try:
                with conn.transaction():
                    applied = _apply_one(conn, t, now, rescue)
                    if applied is not None and applied.change == "raised":
                        _open_case(conn, applied, t, now, rescue, cases or DEFAULT_LIMITS)
            except psycopg.errors.IntegrityError as exc:  # e.g. elevator deleted meanwhile
                log.warning("transition not applied", elevator=t.elevator_id, kind=t.kind,
                            action=t.action, error=str(exc))
                continue
            if applied is not None:
                done.append(applied)
                TRANSITIONS.labels(t.kind, t.action).inc()
    return done


def _open_case(conn: psycopg.Connection, change: AlertChange, t: Transition, now: datetime,
               rescue: Rescue, limits: dict[CaseKind, CaseLimits]) -> None:
    if t.kind in rescue.kinds:
        kind = CaseKind.RESCUE
    elif t.severity in CASE_SEVERITIES:
        kind = CaseKind.FAULT
    else:
        return
    case_changes.gather_alert(conn, alert_id=change.alert_id, alert_kind=t.kind,
                              elevator_pk=t.elevator_pk, kind=kind, severity=t.severity,
                              limits=limits[kind], now=now)


def _apply_one(conn: psycopg.Connection, t: Transition, now: datetime, rescue: Rescue
               ) -> AlertChange | None:
    if t.action == "raise":
        return changes.raise_or_update(
            conn, elevator_pk=t.elevator_pk, kind=t.kind, severity=t.severity,
            opened_at=at(t.at_us), details=dict(t.details), now=now,
            rescue=rescue_clock(now=now, rescue=rescue) if t.kind in rescue.kinds else None)
    if t.action == "update":
        found = changes.update(conn, elevator_pk=t.elevator_pk, kind=t.kind,
                               severity=t.severity, details=dict(t.details), now=now)
        if found is None:
            log.debug("update of an alert that is not open", elevator=t.elevator_id,
                      kind=t.kind)
        return found
    if t.action == "clear":
        return changes.clear(conn, elevator_pk=t.elevator_pk, kind=t.kind, now=now,
                             at=at(t.at_us), details=dict(t.details))
    raise ValueError(f"unknown transition action {t.action!r}")
