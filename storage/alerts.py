"""Alerts: what the API shows, their lifecycle (raise, update, clear, ack, arrive, resolve),
escalation, and the audit trail of alert_events.

Every change of an alert goes through :func:`storage.outbox.record_change` in the same
transaction, so it is published (MQTT, webhooks, the SSE stream) exactly as committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from core.domain import Principal
from storage import outbox
from storage.registry import CURRENT_PROPERTY_JOIN, Conflict, NotFound, visible

Row = dict[str, Any]

WHISTLE = "whistle"  # the actor of automatic changes
CLEARED_BY = "whistle: condition cleared"

# The alert object of CONTRACT section 3, plus extensions after `details`.
ALERT_COLUMNS = """
    a.id, e.id AS elevator_id, a.kind, a.severity, a.state, a.opened_at, a.updated_at,
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.note,
    a.escalation_level, a.details,
    a.raised_at, a.arrived_at, a.arrived_by, a.escalated_at, a.property_org_id,
    e.site_id, s.name AS site_name, s.district"""

# Who may see an alert right now (mirrors registry.visible), for the SSE stream.
SCOPE_COLUMNS = """
    cp.property_org_id AS scope_property_org_id,
    e.maintenance_org_id AS scope_maintenance_org_id"""

ALERT_FROM = f"""
    FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk JOIN sites s ON s.id = e.site_id
    {CURRENT_PROPERTY_JOIN}"""

SEVERITY_ORDER = "array_position(ARRAY['critical','major','minor','warning'], a.severity)"

EVENT_COLUMNS = "id, at, action, actor, org_id, details"


# --- reading ---------------------------------------------------------------------------
def open_for_elevator(conn: psycopg.Connection, *, elevator_pk: int) -> list[Row]:
    """Alerts of one elevator that are not resolved, most severe first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {ALERT_COLUMNS} {ALERT_FROM} "
            f"WHERE a.elevator_pk = %s AND a.state <> 'resolved' "
            f"ORDER BY {SEVERITY_ORDER}, a.opened_at DESC", (elevator_pk,)).fetchall()


def list_visible(conn: psycopg.Connection, *, principal: Principal, limit: int, offset: int,
                 state: str | None = None, elevator_id: str | None = None,
                 kind: str | None = None, severity: str | None = None,
                 late: bool | None = None, site_id: int | None = None) -> list[Row]:
    """Alerts the caller can see, newest first, filtered."""
    where, params = visible(principal)
    query = sql.SQL(
        "SELECT {cols} {frm} WHERE {where} "
        "AND (%(state)s::text IS NULL OR a.state = %(state)s) "
        "AND (%(eid)s::text IS NULL OR e.id = %(eid)s) "
        "AND (%(kind)s::text IS NULL OR a.kind = %(kind)s) "
        "AND (%(severity)s::text IS NULL OR a.severity = %(severity)s) "
        "AND (%(site_id)s::integer IS NULL OR e.site_id = %(site_id)s) "
        "AND (%(late)s::boolean IS NULL OR "
        "     coalesce((a.details -> 'rescue' ->> 'late')::boolean, false) = %(late)s) "
        "ORDER BY a.opened_at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s").format(
            cols=sql.SQL(ALERT_COLUMNS), frm=sql.SQL(ALERT_FROM), where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "state": state, "eid": elevator_id, "kind": kind,
                                   "severity": severity, "site_id": site_id, "late": late,
                                   "limit": limit, "offset": offset}).fetchall()


def get_visible(conn: psycopg.Connection, *, principal: Principal, alert_id: int) -> Row:
    """One alert the caller can see; NotFound otherwise (also across scopes)."""
    where, params = visible(principal)
    query = sql.SQL("SELECT {cols} {frm} WHERE a.id = %(alert_id)s AND {where}").format(
        cols=sql.SQL(ALERT_COLUMNS), frm=sql.SQL(ALERT_FROM), where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, {**params, "alert_id": alert_id}).fetchone()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return row


def get(conn: psycopg.Connection, *, alert_id: int) -> Row:
    """One alert regardless of scope (for the service); NotFound if absent."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {ALERT_COLUMNS} {ALERT_FROM} WHERE a.id = %s",
                          (alert_id,)).fetchone()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return row


def with_scope(conn: psycopg.Connection, *, alert_ids: list[int]) -> list[Row]:
    """Alerts with the fields that decide who sees them now (for the SSE stream)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {ALERT_COLUMNS}, {SCOPE_COLUMNS} {ALERT_FROM} WHERE a.id = ANY(%s)",
            (alert_ids,)).fetchall()


def events(conn: psycopg.Connection, *, alert_id: int) -> list[Row]:
    """The audit trail of one alert, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {EVENT_COLUMNS} FROM alert_events WHERE alert_id = %s "
                           "ORDER BY at, id", (alert_id,)).fetchall()


def open_keys(conn: psycopg.Connection) -> list[tuple[int, str]]:
    """(elevator_pk, kind) of every alert that is not resolved."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return [(r[0], r[1]) for r in cur.execute(
            "SELECT elevator_pk, kind FROM alerts WHERE state <> 'resolved'").fetchall()]


def open_counts(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """(severity, alerts not resolved) for the metrics."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return [(r[0], r[1]) for r in cur.execute(
            "SELECT severity, count(*) FROM alerts WHERE state <> 'resolved' "
            "GROUP BY severity").fetchall()]


# --- the audit trail -------------------------------------------------------------------
def add_event(conn: psycopg.Connection, *, alert_id: int, action: str, actor: str,
              org_id: int | None = None, details: dict[str, Any] | None = None,
              at: datetime | None = None) -> None:
    """Append one entry to an alert's audit trail."""
    conn.execute(
        "INSERT INTO alert_events (alert_id, at, action, actor, org_id, details) "
        "VALUES (%s, coalesce(%s, now()), %s, %s, %s, %s)",
        (alert_id, at, action, actor, org_id, Jsonb(details or {})))


def add_events(conn: psycopg.Connection, *, alert_ids: list[int], action: str, actor: str,
               org_id: int | None, details: dict[str, Any], at: datetime | None = None
               ) -> None:
    """The same audit entry on several alerts (a grouped notification)."""
    conn.execute(
        "INSERT INTO alert_events (alert_id, at, action, actor, org_id, details) "
        "SELECT a.id, coalesce(%s, now()), %s, %s, %s, %s FROM alerts a "
        "WHERE a.id = ANY(%s)", (at, action, actor, org_id, Jsonb(details), alert_ids))


# --- written by the rules service ------------------------------------------------------
def raise_or_update(conn: psycopg.Connection, *, elevator_pk: int, kind: str, severity: str,
                    opened_at: datetime, details: dict[str, Any], now: datetime
                    ) -> tuple[int, bool]:
    """Open an alert, or update the open one of that kind; (alert id, newly opened).

    The one-open-per-kind unique index settles races between writers; the rescue clock
    (details.rescue) of an open alert survives updates of its details.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO alerts AS a (elevator_pk, kind, severity, opened_at, raised_at, "
            "updated_at, property_org_id, details) "
            "VALUES (%(pk)s, %(kind)s, %(severity)s, %(opened)s, %(now)s, %(now)s, "
            "  (SELECT p.org_id FROM elevator_property p WHERE p.elevator_pk = %(pk)s "
            "   AND p.effective_from <= greatest(%(now)s, now()) "
            "   ORDER BY p.effective_from DESC LIMIT 1), %(details)s) "
            "ON CONFLICT (elevator_pk, kind) WHERE state <> 'resolved' DO UPDATE SET "
            "  severity = EXCLUDED.severity, updated_at = EXCLUDED.updated_at, "
            "  details = (EXCLUDED.details - 'rescue') || CASE WHEN a.details ? 'rescue' "
            "    THEN jsonb_build_object('rescue', a.details -> 'rescue') "
            "    ELSE '{}'::jsonb END "
            "RETURNING a.id, (a.xmax = 0)",
            {"pk": elevator_pk, "kind": kind, "severity": severity, "opened": opened_at,
             "now": now, "details": Jsonb(details)}).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def update_open(conn: psycopg.Connection, *, elevator_pk: int, kind: str, severity: str,
                details: dict[str, Any], now: datetime) -> int | None:
    """New details (and severity) of the open alert of that kind; its id, or None."""
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
    return int(row[0]) if row else None


def clear_open(conn: psycopg.Connection, *, elevator_pk: int, kind: str, now: datetime,
               details: dict[str, Any] | None = None) -> int | None:
    """Resolve the open alert of that kind automatically; its id, or None."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "UPDATE alerts a SET state = 'resolved', resolved_at = %(now)s, "
            "  resolved_by = %(by)s, updated_at = %(now)s, "
            "  details = a.details || jsonb_build_object('cleared', %(cleared)s::jsonb) "
            "WHERE a.elevator_pk = %(pk)s AND a.kind = %(kind)s AND a.state <> 'resolved' "
            "RETURNING a.id",
            {"pk": elevator_pk, "kind": kind, "now": now, "by": CLEARED_BY,
             "cleared": Jsonb(details or {})}).fetchone()
    return int(row[0]) if row else None


def due_for_escalation(conn: psycopg.Connection, *, now: datetime, max_level: int,
                       step_s_by_severity: dict[str, float],
                       step_s_by_kind: dict[str, float]) -> list[Row]:
    """Open, unacknowledged alerts whose next escalation step is due, locked for update."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT a.id, a.elevator_pk, e.id AS elevator_id, e.site_id, a.kind, a.severity, "
            "a.escalation_level FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk "
            "WHERE a.state = 'open' AND a.escalation_level < %(max)s "
            "AND coalesce(a.escalated_at, a.raised_at) + make_interval(secs => coalesce("
            "  (%(kinds)s::jsonb ->> a.kind)::float8, "
            "  (%(sevs)s::jsonb ->> a.severity)::float8)) <= %(now)s "
            "ORDER BY a.raised_at, a.id FOR UPDATE OF a SKIP LOCKED",
            {"now": now, "max": max_level, "kinds": Jsonb(step_s_by_kind),
             "sevs": Jsonb(step_s_by_severity)}).fetchall()


def set_escalation(conn: psycopg.Connection, *, alert_id: int, level: int, now: datetime
                   ) -> None:
    """Record that an alert climbed to `level` now."""
    conn.execute("UPDATE alerts SET escalation_level = %s, escalated_at = %s, updated_at = %s "
                 "WHERE id = %s", (level, now, now, alert_id))


def chain(conn: psycopg.Connection, *, elevator_ids: list[str]) -> dict[str, list[Row]]:
    """The escalation chain of each elevator: {elevator_id: [{level, id, name, kind}, ...]}.

    Level 0 the current property organization, 1 the maintenance organization, 2 the
    community and street organizations of the site's district, 3 its supervision.
    """
    out: dict[str, list[Row]] = {eid: [] for eid in elevator_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "WITH el AS (SELECT e.id AS eid, e.maintenance_org_id, s.district, "
            "  (SELECT p.org_id FROM elevator_property p WHERE p.elevator_pk = e.pk "
            "   AND p.effective_from <= now() ORDER BY p.effective_from DESC LIMIT 1) AS prop "
            "  FROM elevators e JOIN sites s ON s.id = e.site_id WHERE e.id = ANY(%(ids)s)) "
            "SELECT el.eid, 0 AS level, o.id, o.name, o.kind::text AS kind "
            "  FROM el JOIN orgs o ON o.id = el.prop "
            "UNION ALL SELECT el.eid, 1, o.id, o.name, o.kind::text "
            "  FROM el JOIN orgs o ON o.id = el.maintenance_org_id "
            "UNION ALL SELECT el.eid, 2, o.id, o.name, o.kind::text "
            "  FROM el JOIN orgs o ON o.kind IN ('community', 'street') "
            "  AND o.district = el.district "
            "UNION ALL SELECT el.eid, 3, o.id, o.name, o.kind::text "
            "  FROM el JOIN orgs o ON o.kind = 'supervision' AND o.district = el.district "
            "ORDER BY 1, 2, 3", {"ids": elevator_ids}).fetchall()
    for r in rows:
        out[r.pop("eid")].append(r)
    return out


def mark_late_rescues(conn: psycopg.Connection, *, now: datetime) -> list[int]:
    """Flag rescues past their deadline with nobody on site as late; their alert ids."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return [int(r[0]) for r in cur.execute(
            "UPDATE alerts a SET updated_at = %(now)s, "
            "  details = jsonb_set(a.details, '{rescue,late}', 'true') "
            "WHERE a.state <> 'resolved' AND a.arrived_at IS NULL "
            "AND a.details -> 'rescue' ->> 'late' = 'false' "
            "AND (a.details -> 'rescue' ->> 'deadline_at')::timestamptz <= %(now)s "
            "RETURNING a.id", {"now": now}).fetchall()]


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
                note: str | None) -> Row:
    """Someone reports for duty: stops the escalation; Conflict unless open."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
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
        add_event(conn, alert_id=alert_id, action="acknowledged", actor=actor, org_id=org_id,
                  details={"note": note} if note else {})
        outbox.record_change(conn, alert_id=alert_id, change="acknowledged", actor=actor)
    return get(conn, alert_id=alert_id)


def arrive(conn: psycopg.Connection, *, alert_id: int, actor: str, org_id: int | None,
           note: str | None) -> Row:
    """Someone arrived on site (stops the rescue clock; acknowledges if still open)."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
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
            add_event(conn, alert_id=alert_id, action="acknowledged", actor=actor,
                      org_id=org_id, details={"by_arrival": True})
        add_event(conn, alert_id=alert_id, action="arrived", actor=actor, org_id=org_id,
                  details={"note": note} if note else {})
        outbox.record_change(conn, alert_id=alert_id, change="arrived", actor=actor)
    return get(conn, alert_id=alert_id)


def resolve(conn: psycopg.Connection, *, alert_id: int, actor: str, org_id: int | None,
            note: str) -> Row:
    """Resolve by hand; Conflict if already resolved."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        done = cur.execute(
            "UPDATE alerts a SET state = 'resolved', resolved_at = now(), "
            "  resolved_by = %(actor)s, note = %(note)s, updated_at = now() "
            "WHERE a.id = %(id)s AND a.state <> 'resolved' RETURNING a.id",
            {"id": alert_id, "actor": actor, "note": note}).fetchone()
        if done is None:
            raise _refuse(conn, alert_id, "resolve")
        add_event(conn, alert_id=alert_id, action="resolved", actor=actor, org_id=org_id,
                  details={"note": note})
        outbox.record_change(conn, alert_id=alert_id, change="resolved", actor=actor)
    return get(conn, alert_id=alert_id)
