"""Reading alerts: what the API shows, the audit trail, what the rules and the escalation
job need to know. Nothing here changes an alert; :mod:`storage.alerts.changes` does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from core.chain import LEVEL_KINDS, Level
from core.domain import SEVERITY_ORDER, Principal
from storage.errors import NotFound
from storage.scope import CURRENT_PROPERTY_JOIN, property_org_at, visible

Row = dict[str, Any]

# The alert object of CONTRACT section 3, plus extensions after `details`. An alert
# gathered into a case shows the level its case reached, if higher (CONTRACT section 6).
ALERT_COLUMNS = """
    a.id, e.id AS elevator_id, a.kind, a.severity, a.state, a.opened_at, a.updated_at,
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.note,
    greatest(a.escalation_level, coalesce((SELECT c.level FROM case_alerts ca
        JOIN cases c ON c.id = ca.case_id WHERE ca.alert_id = a.id), 0)) AS escalation_level,
    a.details,
    a.raised_at, a.arrived_at, a.arrived_by, a.escalated_at, a.property_org_id,
    e.site_id, s.name AS site_name, s.district,
    (SELECT ca.case_id FROM case_alerts ca WHERE ca.alert_id = a.id) AS case_id"""

# Who may see an alert right now (mirrors storage.scope.visible), for the SSE stream.
SCOPE_COLUMNS = """
    cp.property_org_id AS scope_property_org_id,
    e.maintenance_org_id AS scope_maintenance_org_id"""

ALERT_FROM = f"""
    FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk JOIN sites s ON s.id = e.site_id
    {CURRENT_PROPERTY_JOIN}"""

# Most severe first, from the one order in core.domain.
SEVERITY_SQL = ("array_position(ARRAY[" + ", ".join(f"'{s}'" for s in SEVERITY_ORDER)
                + "], a.severity)")

EVENT_COLUMNS = "id, at, action, actor, org_id, details"


# --- reading ---------------------------------------------------------------------------
def open_for_elevator(conn: psycopg.Connection, *, elevator_pk: int) -> list[Row]:
    """Alerts of one elevator that are not resolved, most severe first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {ALERT_COLUMNS} {ALERT_FROM} "
            f"WHERE a.elevator_pk = %s AND a.state <> 'resolved' "
            f"ORDER BY {SEVERITY_SQL}, a.opened_at DESC", (elevator_pk,)).fetchall()


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


def _level_select(level: Level) -> str:
    kinds = ", ".join(f"'{k.value}'" for k in LEVEL_KINDS[level])
    if level == Level.PROPERTY:
        on = "o.id = el.prop"
    elif level == Level.MAINTENANCE:
        on = "o.id = el.maintenance_org_id"
    else:  # district levels
        on = f"o.kind::text IN ({kinds}) AND o.district = el.district"
    # an organization whose service ended is called no more (the level is skipped)
    return (f"SELECT el.eid, {int(level)} AS level, o.id, o.name, o.kind::text AS kind "
            f"FROM el JOIN orgs o ON {on} AND (o.ended_at IS NULL OR o.ended_at > now())")


# The chain of every elevator asked for, one row per (level, organization), from the one
# definition of its levels in core.chain.
_CHAIN = (
    "WITH el AS (SELECT e.id AS eid, e.maintenance_org_id, s.district, "
    f"  {property_org_at('e.pk')} AS prop "
    "  FROM elevators e JOIN sites s ON s.id = e.site_id WHERE e.id = ANY(%(ids)s)) "
    + " UNION ALL ".join(_level_select(level) for level in Level)
    + " ORDER BY 1, 2, 3")


def chain(conn: psycopg.Connection, *, elevator_ids: list[str]) -> dict[str, list[Row]]:
    """The escalation chain of each elevator: {elevator_id: [{level, id, name, kind}, ...]}
    (core.chain says which organizations answer at each level)."""
    out: dict[str, list[Row]] = {eid: [] for eid in elevator_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_CHAIN, {"ids": elevator_ids}).fetchall()
    for r in rows:
        out[r.pop("eid")].append(r)
    return out


def outbox_pending(conn: psycopg.Connection) -> int:
    """Alert changes not yet published."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT count(*) FROM alert_outbox").fetchone()
    return int(row[0]) if row else 0
