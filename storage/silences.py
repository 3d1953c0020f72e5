"""Silences of notifications (issue 15), by elevator or site and by alert kind: who set
them, why, until when; ended early by a person or by their expiry. Every silence stays on
the record (nothing is deleted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from core.domain import DISTRICT_KINDS, OrgKind, Principal
from storage.errors import Conflict, NotFound
from storage.scope import CURRENT_PROPERTY_JOIN

__all__ = ["active", "alert_kinds", "create", "end", "ended_unreleased", "get_visible",
           "list_visible",
           "mark_released"]

Row = dict[str, Any]

COLUMNS = """si.id, e.id AS elevator_id, CASE WHEN si.elevator_pk IS NULL THEN si.site_id END
    AS site_id, s.id AS at_site_id, s.name AS site_name, s.district, si.kinds, si.reason,
    si.owner, si.org_id, si.created_at, si.expires_at, si.ended_at, si.ended_by,
    (si.ended_at IS NULL AND si.expires_at > now()) AS active"""
FROM = f"""FROM silences si LEFT JOIN elevators e ON e.pk = si.elevator_pk
    JOIN sites s ON s.id = coalesce(si.site_id, e.site_id) {CURRENT_PROPERTY_JOIN}"""


def _visible(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """Silences on what the caller sees (a site's: its property company, the maintenance
    companies of its elevators, the district's offices), and the caller's own."""
    me = {"me": principal.org_id if principal.org_id is not None else -1}
    if principal.is_admin:
        return sql.SQL("true"), me
    if principal.kind == OrgKind.PROPERTY:
        return sql.SQL("(si.org_id = %(me)s OR cp.property_org_id = %(me)s OR "
                       "(si.elevator_pk IS NULL AND s.property_org_id = %(me)s))"), me
    if principal.kind == OrgKind.MAINTENANCE:
        return sql.SQL("(si.org_id = %(me)s OR e.maintenance_org_id = %(me)s OR "
                       "(si.elevator_pk IS NULL AND EXISTS (SELECT 1 FROM elevators x "
                       "WHERE x.site_id = s.id AND x.maintenance_org_id = %(me)s)))"), me
    if principal.kind in DISTRICT_KINDS:
        return sql.SQL("s.district = %(district)s"), {**me, "district": principal.district}
    return sql.SQL("false"), me


def create(conn: psycopg.Connection, *, elevator_pk: int | None, site_id: int | None,
           kinds: list[str], reason: str, owner: str, org_id: int | None,
           expires_at: datetime) -> int:
    """A new silence; its id."""
    row = conn.execute(
        "INSERT INTO silences (elevator_pk, site_id, kinds, reason, owner, org_id, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (elevator_pk, site_id, kinds, reason, owner, org_id, expires_at)).fetchone()
    assert row is not None
    return int(row["id"] if isinstance(row, dict) else row[0])


def list_visible(conn: psycopg.Connection, *, principal: Principal, active_only: bool,
                 limit: int, offset: int) -> list[Row]:
    """Visible silences, newest first."""
    where, params = _visible(principal)
    query = sql.SQL(f"SELECT {COLUMNS} {FROM} WHERE {{w}} AND (NOT %(active)s OR "
                    "(si.ended_at IS NULL AND si.expires_at > now())) "
                    "ORDER BY si.id DESC LIMIT %(limit)s OFFSET %(offset)s").format(w=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "active": active_only, "limit": limit,
                                   "offset": offset}).fetchall()


def get_visible(conn: psycopg.Connection, *, principal: Principal, silence_id: int) -> Row:
    """One visible silence; NotFound otherwise."""
    where, params = _visible(principal)
    query = sql.SQL(f"SELECT {COLUMNS} {FROM} WHERE si.id = %(id)s AND {{w}}").format(w=where)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, {**params, "id": silence_id}).fetchone()
    if row is None:
        raise NotFound(f"silence {silence_id} does not exist")
    return row


def end(conn: psycopg.Connection, *, silence_id: int, by: str) -> None:
    """End a silence now; Conflict if it is over already."""
    done = conn.execute("UPDATE silences SET ended_at = now(), ended_by = %s WHERE id = %s "
                        "AND ended_at IS NULL AND expires_at > now()",
                        (by, silence_id)).rowcount
    if not done:
        raise Conflict(f"silence {silence_id} is already over")


def active(conn: psycopg.Connection, *, now: datetime) -> list[Row]:
    """Silences lasting at ``now`` ({id, elevator_id, site_id, kinds})."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT si.id, e.id AS elevator_id, CASE WHEN si.elevator_pk IS NULL THEN "
            "si.site_id END AS site_id, si.kinds FROM silences si "
            "LEFT JOIN elevators e ON e.pk = si.elevator_pk WHERE si.ended_at IS NULL "
            "AND si.expires_at > %s", (now,)).fetchall()


def ended_unreleased(conn: psycopg.Connection, *, now: datetime) -> list[Row]:
    """Silences over (ended or expired) whose held notifications are not yet released,
    with the open alerts they cover ({id, alert_ids})."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT si.id, ARRAY(SELECT a.id FROM alerts a JOIN elevators x "
            "ON x.pk = a.elevator_pk WHERE a.state <> 'resolved' AND a.kind = ANY(si.kinds) "
            "AND (x.pk = si.elevator_pk OR x.site_id = si.site_id) "
            "AND a.opened_at < coalesce(si.ended_at, si.expires_at) ORDER BY a.id) "
            "AS alert_ids FROM silences si WHERE si.released_at IS NULL "
            "AND coalesce(si.ended_at, si.expires_at) <= %s ORDER BY si.id "
            "FOR UPDATE OF si SKIP LOCKED", (now,)).fetchall()


def mark_released(conn: psycopg.Connection, *, silence_id: int, now: datetime) -> None:
    """What the silence held has been notified."""
    conn.execute("UPDATE silences SET released_at = %s WHERE id = %s", (now, silence_id))


def alert_kinds(conn: psycopg.Connection, *, alert_ids: list[int]) -> list[str]:
    """The kinds of those alerts."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [str(r["kind"]) for r in cur.execute(
            "SELECT kind FROM alerts WHERE id = ANY(%s)", (alert_ids,)).fetchall()]
