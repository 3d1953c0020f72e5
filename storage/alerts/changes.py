"""The only code that changes an alert.

Every function here writes, in the caller's transaction, the alert row, its audit entry in
``alert_events`` and its ``alert_outbox`` row (the alert object as it is after the change,
announced with NOTIFY on the alerts channel), and returns what changed. The rules engine
(raise, update, clear), the escalation job (escalate, late rescues), the notifier (who was
told) and the API (acknowledge, arrive, resolve) all come through here, so an alert can
never change without its trail and its publication. Nothing else in Whistle writes those
three tables (``tests/test_architecture.py`` checks the source for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from storage import outbox
from storage.alerts.queries import ALERT_COLUMNS, ALERT_FROM, get
from storage.errors import Conflict
from storage.scope import property_org_at

__all__ = ["CLEARED_BY", "WHISTLE", "AlertChange", "acknowledge", "arrive", "claim_outbox",
           "clear", "escalate", "flag_late_rescues", "notified", "raise_or_update", "resolve",
           "resolve_all_of_elevator", "unsilenced", "update"]

Row = dict[str, Any]

WHISTLE = "whistle"  # the actor of automatic changes
CLEARED_BY = "whistle: condition cleared"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What a change did: which alert, and the change ('raised', 'acknowledged', ...)."""

    alert_id: int
    elevator_pk: int
    kind: str
    change: str


# --- the trail and the publication -----------------------------------------------------
def _event(conn: psycopg.Connection, *, alert_id: int, action: str, actor: str,
           org_id: int | None = None, details: dict[str, Any] | None = None,
           at: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO alert_events (alert_id, at, action, actor, org_id, details) "
        "VALUES (%s, coalesce(%s, now()), %s, %s, %s, %s)",
        (alert_id, at, action, actor, org_id, Jsonb(details or {})))


def _publish(conn: psycopg.Connection, *, alert_id: int, change: str, actor: str,
             details: dict[str, Any] | None = None) -> AlertChange:
    """Queue the alert object as it is now for publication, and announce it."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO alert_outbox (alert_id, change, actor, details, alert) "
            "SELECT x.id, %(change)s, %(actor)s, %(details)s, to_jsonb(x) "
            f"FROM (SELECT {ALERT_COLUMNS}, a.elevator_pk {ALERT_FROM} WHERE a.id = %(id)s) x "
            "RETURNING id, (alert ->> 'elevator_id') AS elevator_id, "
            "(alert ->> 'elevator_pk')::int AS elevator_pk, alert ->> 'kind' AS kind",
            {"id": alert_id, "change": change, "actor": actor,
             "details": Jsonb(details or {})}).fetchone()
    assert row is not None, f"alert {alert_id} vanished"
    outbox.notify(conn, outbox.ALERTS_CHANNEL, {
        "outbox_id": row["id"], "alert_id": alert_id, "change": change,
        "elevator_id": row["elevator_id"]})
    return AlertChange(alert_id, int(row["elevator_pk"]), str(row["kind"]), change)


# --- written by the rules engine -------------------------------------------------------
def raise_or_update(conn: psycopg.Connection, *, elevator_pk: int, kind: str, severity: str,
                    opened_at: datetime, details: dict[str, Any], now: datetime,
                    rescue: dict[str, Any] | None = None) -> AlertChange:
    """Open an alert, or update the open one of that kind ('raised' or 'updated').

    The one-open-per-kind unique index settles races between writers; a new alert of a
    rescue kind starts the rescue clock (details.rescue), which survives later updates.
    """
    stored = dict(details)
    if rescue is not None:
        stored["rescue"] = rescue
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO alerts AS a (elevator_pk, kind, severity, opened_at, raised_at, "
            "updated_at, property_org_id, details) "
            "VALUES (%(pk)s, %(kind)s, %(severity)s, %(opened)s, %(now)s, %(now)s, "
            f"  {property_org_at('%(pk)s', 'greatest(%(now)s, now())')}, %(details)s) "
            "ON CONFLICT (elevator_pk, kind) WHERE state <> 'resolved' DO UPDATE SET "
            "  severity = EXCLUDED.severity, updated_at = EXCLUDED.updated_at, "
            "  details = (EXCLUDED.details - 'rescue') || CASE WHEN a.details ? 'rescue' "
            "    THEN jsonb_build_object('rescue', a.details -> 'rescue') "
            "    ELSE '{}'::jsonb END "
            "RETURNING a.id, (a.xmax = 0)",
            {"pk": elevator_pk, "kind": kind, "severity": severity, "opened": opened_at,
             "now": now, "details": Jsonb(stored)}).fetchone()
    assert row is not None
    alert_id, change = int(row[0]), "raised" if row[1] else "updated"
    _event(conn, alert_id=alert_id, action=change, actor=WHISTLE, at=now,
           details={"severity": severity, "at": opened_at.isoformat(), "details": details})
    return _publish(conn, alert_id=alert_id, change=change, actor=WHISTLE)


def update(conn: psycopg.Connection, *, elevator_pk: int, kind: str, severity: str,
           details: dict[str, Any], now: datetime) -> AlertChange | None:
    """New details (and severity) of the open alert of that kind; None if none is open."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "UPDATE alerts a SET severity = %(severity)s, updated_at = %(now)s, "
            "  details = (%(details)s::jsonb - 'rescue') || CASE WHEN a.details ? 'rescue' "
            "    THEN jsonb_build_object('rescue', a.details -> 'rescue') "
            "    ELSE '{}'::jsonb END "
            "WHERE a.elevator_pk = %(pk)s AND a.kind = %(kind)s AND a.state <> 'resolved' "
            "RETURNING a.id",
            {"pk": elevator_pk, "kind": kind, "severity": severity, "now": now,
             "details": Jsonb(details)}).fetchone()
    if row is None:
        return None
    alert_id = int(row[0])
    _event(conn, alert_id=alert_id, action="updated", actor=WHISTLE, at=now,
           details={"severity": severity, "details": details})
    return _publish(conn, alert_id=alert_id, change="updated", actor=WHISTLE)


def clear(conn: psycopg.Connection, *, elevator_pk: int, kind: str, now: datetime,
          at: datetime, details: dict[str, Any]) -> AlertChange | None:
    """The condition cleared (at event time ``at``): resolve the open alert of that kind
    automatically; None if none is open."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "UPDATE alerts a SET state = 'resolved', resolved_at = %(now)s, "
            "  resolved_by = %(by)s, updated_at = %(now)s, "
            "  details = a.details || jsonb_build_object('cleared', %(cleared)s::jsonb) "
            "WHERE a.elevator_pk = %(pk)s AND a.kind = %(kind)s AND a.state <> 'resolved' "
            "RETURNING a.id",
            {"pk": elevator_pk, "kind": kind, "now": now, "by": CLEARED_BY,
             "cleared": Jsonb({"at": at.isoformat(), **details})}).fetchone()
    if row is None:
        return None
    alert_id = int(row[0])
    _event(conn, alert_id=alert_id, action="resolved", actor=WHISTLE, at=now,
           details={"by": CLEARED_BY, "at": at.isoformat(), "details": details})
    return _publish(conn, alert_id=alert_id, change="resolved", actor=WHISTLE)


# --- written by the escalation job -----------------------------------------------------
def escalate(conn: psycopg.Connection, *, alert_id: int, level: int, now: datetime,
             details: dict[str, Any]) -> AlertChange:
    """The alert climbed to ``level`` now (``details`` says who was reached)."""
    conn.execute("UPDATE alerts SET escalation_level = %s, escalated_at = %s, updated_at = %s "
                 "WHERE id = %s", (level, now, now, alert_id))
    _event(conn, alert_id=alert_id, action="escalated", actor=WHISTLE, details=details, at=now)
    return _publish(conn, alert_id=alert_id, change="escalated", actor=WHISTLE,
                    details=details)


def flag_late_rescues(conn: psycopg.Connection, *, now: datetime) -> list[AlertChange]:
    """Flag rescues past their deadline with nobody on site as late."""
    with conn.cursor(row_factory=tuple_row) as cur:
        ids = [int(r[0]) for r in cur.execute(
            "UPDATE alerts a SET updated_at = %(now)s, "
            "  details = jsonb_set(a.details, '{rescue,late}', 'true') "
            "WHERE a.state <> 'resolved' AND a.arrived_at IS NULL "
            "AND a.details -> 'rescue' ->> 'late' = 'false' "
            "AND (a.details -> 'rescue' ->> 'deadline_at')::timestamptz <= %(now)s "
            "RETURNING a.id", {"now": now}).fetchall()]
    out = []
    for alert_id in ids:
        _event(conn, alert_id=alert_id, action="noted", actor=WHISTLE,
               details={"rescue_late": True}, at=now)
        out.append(_publish(conn, alert_id=alert_id, change="rescue_late", actor=WHISTLE))
    return out


# --- written by the notifier -----------------------------------------------------------
def unsilenced(conn: psycopg.Connection, *, alert_id: int, silence_id: int, now: datetime
               ) -> AlertChange:
    """A silence covering the alert is over: its notifications, held until now, go out."""
    details = {"silence_id": silence_id}
    _event(conn, alert_id=alert_id, action="unsilenced", actor=WHISTLE, at=now,
           details=details)
    return _publish(conn, alert_id=alert_id, change="unsilenced", actor=WHISTLE,
                    details=details)


def notified(conn: psycopg.Connection, *, alert_ids: list[int], org_id: int | None,
             details: dict[str, Any], at: datetime | None = None) -> None:
    """Record on each alert's trail that an organization was told (no publication: telling
    someone is not a change of the alert)."""
    conn.execute(
        "INSERT INTO alert_events (alert_id, at, action, actor, org_id, details) "
        "SELECT a.id, coalesce(%s, now()), 'notified', %s, %s, %s FROM alerts a "
        "WHERE a.id = ANY(%s)", (at, WHISTLE, org_id, Jsonb(details), alert_ids))


def claim_outbox(conn: psycopg.Connection, *, limit: int) -> list[Row]:
    """Take the oldest unpublished changes (deleted when the caller's transaction commits)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "DELETE FROM alert_outbox WHERE id IN (SELECT id FROM alert_outbox ORDER BY id "
            "LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING id, alert_id, change, actor, details, alert - 'elevator_pk' AS alert, "
            "created_at", (limit,)).fetchall()


# --- written through the API -----------------------------------------------------------
def _refuse(conn: psycopg.Connection, alert_id: int, doing: str) -> Conflict:
    """Why an alert cannot be acknowledged / resolved / arrived at (a 409)."""
    row = get(conn, alert_id=alert_id)
    if row["state"] == "resolved":
        return Conflict(f"alert {alert_id} was already resolved by {row['resolved_by']} "
                        f"at {row['resolved_at'].isoformat()}")
    if doing == "arrive" and row["arrived_at"] is not None:
        return Conflict(f"{row['arrived_by']} already arrived at "
                        f"{row['arrived_at'].isoformat()}")
    return Conflict(f"alert {alert_id} was already acknowledged by {row['acknowledged_by']} "
                    f"at {row['acknowledged_at'].isoformat()}")


# Elapsed seconds of the rescue clock, to one decimal.
_RESCUE_ELAPSED = ("round(extract(epoch FROM now() - "
                   "(a.details -> 'rescue' ->> 'started_at')::timestamptz)::numeric, 1)")


def acknowledge(conn: psycopg.Connection, *, alert_id: int, actor: str, org_id: int | None,
                note: str | None) -> AlertChange:
    """Someone reports for duty: stops the escalation; Conflict unless open."""
    with conn.cursor(row_factory=tuple_row) as cur:
        done = cur.execute(
            "UPDATE alerts a SET state = 'acknowledged', acknowledged_at = now(), "
            "  acknowledged_by = %(actor)s, note = coalesce(%(note)s, a.note), "
            "  updated_at = now(), details = CASE WHEN a.details ? 'rescue' THEN jsonb_set("
            f"    a.details, '{{rescue,acknowledged_after_s}}', to_jsonb({_RESCUE_ELAPSED})) "
            "    ELSE a.details END "
            "WHERE a.id = %(id)s AND a.state = 'open' RETURNING a.id",
            {"id": alert_id, "actor": actor, "note": note}).fetchone()
    if done is None:
        raise _refuse(conn, alert_id, "acknowledge")
    _event(conn, alert_id=alert_id, action="acknowledged", actor=actor, org_id=org_id,
           details={"note": note} if note else {})
    return _publish(conn, alert_id=alert_id, change="acknowledged", actor=actor)


def arrive(conn: psycopg.Connection, *, alert_id: int, actor: str, org_id: int | None,
           note: str | None) -> AlertChange:
    """Someone arrived on site (stops the rescue clock; acknowledges if still open)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        done = cur.execute(
            "UPDATE alerts a SET arrived_at = now(), arrived_by = %(actor)s, "
            "  state = 'acknowledged', acknowledged_at = coalesce(a.acknowledged_at, now()), "
            "  acknowledged_by = coalesce(a.acknowledged_by, %(actor)s), "
            "  note = coalesce(%(note)s, a.note), updated_at = now(), "
            "  details = CASE WHEN a.details ? 'rescue' THEN "
            "    a.details || jsonb_build_object('rescue', (a.details -> 'rescue') || "
            "      jsonb_build_object("
            f"        'arrived_after_s', {_RESCUE_ELAPSED}, "
            "        'acknowledged_after_s', coalesce(nullif(a.details -> 'rescue' -> "
            f"           'acknowledged_after_s', 'null'), to_jsonb({_RESCUE_ELAPSED})), "
            f"        'late', {_RESCUE_ELAPSED} > (a.details -> 'rescue' ->> 'limit_s')::numeric"
            "          OR coalesce((a.details -> 'rescue' ->> 'late')::boolean, false))) "
            "    ELSE a.details END "
            "FROM (SELECT id, state FROM alerts WHERE id = %(id)s FOR UPDATE) old "
            "WHERE a.id = old.id AND a.state <> 'resolved' AND a.arrived_at IS NULL "
            "RETURNING old.state",
            {"id": alert_id, "actor": actor, "note": note}).fetchone()
    if done is None:
        raise _refuse(conn, alert_id, "arrive")
    if done[0] == "open":  # the state before this statement: arriving reports for duty
        _event(conn, alert_id=alert_id, action="acknowledged", actor=actor, org_id=org_id,
               details={"by_arrival": True})
    _event(conn, alert_id=alert_id, action="arrived", actor=actor, org_id=org_id,
           details={"note": note} if note else {})
    return _publish(conn, alert_id=alert_id, change="arrived", actor=actor)


def resolve(conn: psycopg.Connection, *, alert_id: int, actor: str, org_id: int | None,
            note: str) -> AlertChange:
    """Resolve by hand; Conflict if already resolved."""
    with conn.cursor(row_factory=tuple_row) as cur:
        done = cur.execute(
            "UPDATE alerts a SET state = 'resolved', resolved_at = now(), "
            "  resolved_by = %(actor)s, note = %(note)s, updated_at = now() "
            "WHERE a.id = %(id)s AND a.state <> 'resolved' RETURNING a.id",
            {"id": alert_id, "actor": actor, "note": note}).fetchone()
    if done is None:
        raise _refuse(conn, alert_id, "resolve")
    _event(conn, alert_id=alert_id, action="resolved", actor=actor, org_id=org_id,
           details={"note": note})
    return _publish(conn, alert_id=alert_id, change="resolved", actor=actor)



def resolve_all_of_elevator(conn: psycopg.Connection, *, elevator_pk: int, actor: str,
                            org_id: int | None, note: str) -> list[AlertChange]:
    """Resolve every open alert of an elevator (it was decommissioned), as ``actor``."""
    with conn.cursor(row_factory=tuple_row) as cur:
        ids = [int(r[0]) for r in cur.execute(
            "UPDATE alerts a SET state = 'resolved', resolved_at = now(), "
            "  resolved_by = %(actor)s, note = %(note)s, updated_at = now() "
            "WHERE a.elevator_pk = %(pk)s AND a.state <> 'resolved' RETURNING a.id",
            {"pk": elevator_pk, "actor": actor, "note": note}).fetchall()]
    out = []
    for alert_id in sorted(ids):
        _event(conn, alert_id=alert_id, action="resolved", actor=actor, org_id=org_id,
               details={"note": note})
        out.append(_publish(conn, alert_id=alert_id, change="resolved", actor=actor))
    return out
