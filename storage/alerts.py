"""Alerts as the API shows them (the rules engine adds the write side)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from storage.registry import CURRENT_PROPERTY_JOIN, visible
from whistle.domain import Principal

Row = dict[str, Any]

# The alert object of CONTRACT section 3, plus extensions after `details`.
ALERT_COLUMNS = """
    a.id, e.id AS elevator_id, a.kind, a.severity, a.state, a.opened_at, a.updated_at,
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.note,
    a.escalation_level, a.details,
    a.raised_at, a.arrived_at, a.arrived_by, a.escalated_at, a.property_org_id,
    e.site_id, s.name AS site_name, s.district"""

ALERT_FROM = f"""
    FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk JOIN sites s ON s.id = e.site_id
    {CURRENT_PROPERTY_JOIN}"""

SEVERITY_ORDER = "array_position(ARRAY['critical','major','minor','warning'], a.severity)"


def open_for_elevator(conn: psycopg.Connection, *, elevator_pk: int) -> list[Row]:
    """Alerts of one elevator that are not resolved, most severe first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {ALERT_COLUMNS} {ALERT_FROM} "
            f"WHERE a.elevator_pk = %s AND a.state <> 'resolved' "
            f"ORDER BY {SEVERITY_ORDER}, a.opened_at DESC", (elevator_pk,)).fetchall()


def list_visible(conn: psycopg.Connection, *, principal: Principal, limit: int, offset: int,
                 state: str | None = None, elevator_id: str | None = None,
                 kind: str | None = None, severity: str | None = None) -> list[Row]:
    """Alerts the caller can see, newest first, filtered."""
    where, params = visible(principal)
    query = sql.SQL(
        "SELECT {cols} {frm} WHERE {where} "
        "AND (%(state)s::text IS NULL OR a.state = %(state)s) "
        "AND (%(eid)s::text IS NULL OR e.id = %(eid)s) "
        "AND (%(kind)s::text IS NULL OR a.kind = %(kind)s) "
        "AND (%(severity)s::text IS NULL OR a.severity = %(severity)s) "
        "ORDER BY a.opened_at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s").format(
            cols=sql.SQL(ALERT_COLUMNS), frm=sql.SQL(ALERT_FROM), where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "state": state, "eid": elevator_id, "kind": kind,
                                   "severity": severity, "limit": limit,
                                   "offset": offset}).fetchall()
