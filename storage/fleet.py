"""The fleet page's queries: counts per district, site and status in one grouped query,
and the tiles of a chosen few elevators (a site, a district, a search, or those that are not
`normal`), so the page costs the same at 100 and at 100,000 elevators."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from core.domain import OrgKind, Principal
from storage.registry import ELEVATOR_COLUMNS, ELEVATOR_FROM, STATUS, _like
from storage.scope import CURRENT_PROPERTY_JOIN, visible

Row = dict[str, Any]


def summary(conn: psycopg.Connection, *, principal: Principal, offline_after_s: float
            ) -> list[Row]:
    """``{district, site_id, site_name, site_address, status, n}`` for every site and status
    of the elevators the caller sees (decommissioned ones left out)."""
    where, params = visible(principal)
    # The current property organization is looked up only where scope depends on it.
    prop = CURRENT_PROPERTY_JOIN if principal.kind == OrgKind.PROPERTY else ""
    query = sql.SQL(
        "SELECT s.district, e.site_id, s.name AS site_name, s.address AS site_address, "
        f"{STATUS} AS status, count(*) AS n "
        f"FROM elevators e JOIN sites s ON s.id = e.site_id {prop} "
        "LEFT JOIN elevator_state st ON st.elevator_pk = e.pk "
        "WHERE e.decommissioned_at IS NULL AND {where} "
        "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 3, 2").format(where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "offline_after": offline_after_s}).fetchall()


def tiles(conn: psycopg.Connection, *, principal: Principal, offline_after_s: float,
          limit: int, site_id: int | None = None, district: str | None = None,
          q: str | None = None, status: str | None = None, not_normal: bool = False
          ) -> tuple[list[Row], int]:
    """The visible elevators matching every filter given (``not_normal``: those whose
    status is not ``normal``), in district, site and id order, at most ``limit``; and how
    many match in all."""
    where, params = visible(principal)
    filters = [where, sql.SQL("e.decommissioned_at IS NULL")]
    if q is not None:
        filters.append(sql.SQL(
            "(e.id ILIKE %(q_like)s OR e.name ILIKE %(q_like)s "
            "OR e.registration_code = upper(%(q)s) OR e.rescue_code = %(q)s)"))
    if site_id is not None:
        filters.append(sql.SQL("e.site_id = %(site_id)s"))
    if district is not None:
        filters.append(sql.SQL("s.district = %(district)s"))
    query = sql.SQL(
        "SELECT *, count(*) OVER () AS matching FROM (SELECT {cols} {frm} WHERE {where}) x "
        "WHERE (%(status)s::text IS NULL OR x.status = %(status)s) "
        "AND (NOT %(not_normal)s OR x.status <> 'normal') "
        "ORDER BY x.district, x.site_name, x.site_id, x.id LIMIT %(limit)s").format(
            cols=sql.SQL(ELEVATOR_COLUMNS + ", s.address AS site_address"),
            frm=sql.SQL(ELEVATOR_FROM),
            where=sql.SQL(" AND ").join(filters))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, {
            **params, "offline_after": offline_after_s, "site_id": site_id,
            "district": district, "q": q, "q_like": _like(q), "status": status,
            "not_normal": not_normal, "limit": limit}).fetchall()
    return rows, (rows[0]["matching"] if rows else 0)


def unresolved(conn: psycopg.Connection, *, elevator_pks: list[int]) -> list[Row]:
    """The open and acknowledged alerts of these elevators (the caller's tiles, so already
    in scope): ``{elevator_id, kind, severity, state, opened_at}``."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT e.id AS elevator_id, a.kind, a.severity, a.state, a.opened_at "
            "FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk "
            "WHERE a.state <> 'resolved' AND a.elevator_pk = ANY(%s)",
            (elevator_pks,)).fetchall()
