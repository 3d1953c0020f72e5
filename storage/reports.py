"""Responsibility on record: who answered for each alert, how fast, and what is overdue.

Times are measured on the service clock, like the escalation chain: from when Whistle
raised an alert (``raised_at``, which is also when the rescue clock starts) or from when
an organization was called by an escalation step, to the organization's own
acknowledgement or arrival in ``alert_events``. The organization *responsible* for an
alert is the property organization at ``opened_at`` per ``elevator_property`` (so a
handover moves responsibility from its effective time), with ``alerts.property_org_id``
as the fallback, plus the elevator's maintenance organization (which has no history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from core.domain import Principal
from storage.scope import CURRENT_PROPERTY_JOIN, property_org_at, visible

Row = dict[str, Any]

RESCUE_LIMIT_S = 30 * 60.0  # CONTRACT: a trapped passenger is reached within 30 minutes
MAINTENANCE_EVERY_DAYS = 15  # CONTRACT: maintenance_overdue after 15 days without a record

# The property organization at the time the alert's condition began.
RESPONSIBLE_AT_OPENING = (
    f"coalesce({property_org_at('a.elevator_pk', 'a.opened_at')}, a.property_org_id)")

# A rescue is late when nobody arrived within the limit: arrival after it, or no arrival
# while the passenger was still trapped (still open, or resolved after the limit).
LATE_RESCUE = """(a.kind = 'trapped_passenger' AND (
    coalesce((a.details -> 'rescue' ->> 'late')::boolean, false)
    OR coalesce(a.arrived_at, a.resolved_at, %(now)s) - a.raised_at > make_interval(
        secs => coalesce((a.details -> 'rescue' ->> 'limit_s')::float8, %(limit_s)s))))"""


def _secs(later: str, earlier: str) -> str:
    # greatest() ignores NULLs, so the CASE keeps "not yet" as NULL rather than 0.
    return (f"CASE WHEN {later} IS NOT NULL THEN "
            f"greatest(0, extract(epoch FROM {later} - {earlier}))::float8 END")


def _median(expr: str) -> str:
    return f"round((percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr}))::numeric, 1)::float8"


def _worst(expr: str) -> str:
    return f"round(max({expr})::numeric, 1)::float8"


_SCOPED_ALERTS = f"""
scoped AS (
    SELECT e.pk, e.maintenance_org_id, e.next_inspection_due, e.registered_at
    FROM elevators e JOIN sites s ON s.id = e.site_id
    WHERE %(district)s::text IS NULL OR s.district = %(district)s),
a AS (
    SELECT a.id, a.kind, a.raised_at, a.acknowledged_at, a.arrived_at, a.resolved_at,
           sc.maintenance_org_id, {RESPONSIBLE_AT_OPENING} AS property_org_id,
           a.kind = 'trapped_passenger' AS rescue, {LATE_RESCUE} AS late
    FROM alerts a JOIN scoped sc ON sc.pk = a.elevator_pk
    WHERE a.opened_at >= %(start)s AND a.opened_at < %(end)s)"""

_PER_ORG = f"""
WITH {_SCOPED_ALERTS},
received AS (
    SELECT id AS alert_id, property_org_id AS org_id, raised_at AS at FROM a
     WHERE property_org_id IS NOT NULL
    UNION ALL
    SELECT id, maintenance_org_id, raised_at FROM a WHERE maintenance_org_id IS NOT NULL
    UNION ALL
    SELECT ev.alert_id, (r ->> 'id')::integer, ev.at
      FROM alert_events ev JOIN a ON a.id = ev.alert_id
      CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(ev.details -> 'reached')
          = 'array' THEN ev.details -> 'reached' ELSE '[]'::jsonb END) r
     WHERE ev.action = 'escalated' AND r ->> 'id' IS NOT NULL),
acted AS (
    SELECT ev.alert_id, ev.org_id,
           min(ev.at) FILTER (WHERE ev.action = 'acknowledged') AS ack_at,
           min(ev.at) FILTER (WHERE ev.action = 'arrived') AS arrive_at,
           min(ev.at) FILTER (WHERE ev.action = 'resolved') AS resolve_at
      FROM alert_events ev JOIN a ON a.id = ev.alert_id
     WHERE ev.org_id IS NOT NULL AND ev.action IN ('acknowledged', 'arrived', 'resolved')
     GROUP BY 1, 2),
pairs AS (
    SELECT coalesce(r.alert_id, x.alert_id) AS alert_id, coalesce(r.org_id, x.org_id) AS org_id,
           r.received_at, x.ack_at, x.arrive_at, x.resolve_at
      FROM (SELECT alert_id, org_id, min(at) AS received_at FROM received GROUP BY 1, 2) r
      FULL JOIN acted x ON x.alert_id = r.alert_id AND x.org_id = r.org_id),
per_org AS (
    SELECT p.org_id,
           count(*) FILTER (WHERE p.received_at IS NOT NULL) AS alerts_received,
           count(p.ack_at) AS acknowledged, count(p.arrive_at) AS arrived,
           count(p.resolve_at) AS resolved,
           count(*) FILTER (WHERE p.received_at IS NOT NULL AND a.acknowledged_at IS NULL)
               AS never_acknowledged,
           {_median(_secs("p.ack_at", "coalesce(p.received_at, a.raised_at)"))} AS ack_median_s,
           {_worst(_secs("p.ack_at", "coalesce(p.received_at, a.raised_at)"))} AS ack_worst_s,
           {_median(_secs("p.arrive_at", "coalesce(p.received_at, a.raised_at)"))}
               AS arrive_median_s,
           {_worst(_secs("p.arrive_at", "coalesce(p.received_at, a.raised_at)"))}
               AS arrive_worst_s,
           count(*) FILTER (WHERE a.rescue) AS rescues,
           count(*) FILTER (WHERE a.late) AS rescues_late
      FROM pairs p JOIN a ON a.id = p.alert_id GROUP BY p.org_id),
last_maintenance AS (
    SELECT elevator_pk, max(performed_at) AS at FROM maintenance_records GROUP BY 1),
duty AS (
    SELECT cp.org_id, sc.pk FROM scoped sc
      JOIN elevator_current_property cp ON cp.elevator_pk = sc.pk
    UNION
    SELECT sc.maintenance_org_id, sc.pk FROM scoped sc WHERE sc.maintenance_org_id IS NOT NULL),
overdue AS (
    SELECT d.org_id, count(*) AS elevators,
           count(*) FILTER (WHERE sc.next_inspection_due < (%(now)s AT TIME ZONE 'UTC')::date)
               AS inspections_overdue,
           count(*) FILTER (WHERE coalesce(m.at, sc.registered_at)
                            < %(now)s - make_interval(days => %(every)s)) AS maintenance_overdue
      FROM duty d JOIN scoped sc ON sc.pk = d.pk
      LEFT JOIN last_maintenance m ON m.elevator_pk = d.pk
     GROUP BY d.org_id)
SELECT o.id AS org_id, o.name AS org_name, o.kind::text AS org_kind, o.district AS org_district,
       coalesce(ov.elevators, 0) AS elevators,
       coalesce(po.alerts_received, 0) AS alerts_received,
       coalesce(po.acknowledged, 0) AS acknowledged, coalesce(po.arrived, 0) AS arrived,
       coalesce(po.resolved, 0) AS resolved,
       coalesce(po.never_acknowledged, 0) AS never_acknowledged,
       po.ack_median_s, po.ack_worst_s, po.arrive_median_s, po.arrive_worst_s,
       coalesce(po.rescues, 0) AS rescues, coalesce(po.rescues_late, 0) AS rescues_late,
       coalesce(ov.inspections_overdue, 0) AS inspections_overdue,
       coalesce(ov.maintenance_overdue, 0) AS maintenance_overdue
  FROM orgs o LEFT JOIN per_org po ON po.org_id = o.id LEFT JOIN overdue ov ON ov.org_id = o.id
 WHERE po.org_id IS NOT NULL OR ov.org_id IS NOT NULL
 ORDER BY array_position(ARRAY['property', 'maintenance', 'community', 'street', 'rescue',
                               'supervision', 'admin'], o.kind::text), o.name"""

_TOTALS = f"""
WITH {_SCOPED_ALERTS},
last_maintenance AS (
    SELECT elevator_pk, max(performed_at) AS at FROM maintenance_records GROUP BY 1)
SELECT (SELECT count(*) FROM scoped) AS elevators,
       count(a.id) AS alerts, count(a.acknowledged_at) AS acknowledged,
       count(a.arrived_at) AS arrived, count(a.resolved_at) AS resolved,
       count(a.id) FILTER (WHERE a.acknowledged_at IS NULL) AS never_acknowledged,
       {_median(_secs("a.acknowledged_at", "a.raised_at"))} AS ack_median_s,
       {_worst(_secs("a.acknowledged_at", "a.raised_at"))} AS ack_worst_s,
       {_median(_secs("a.arrived_at", "a.raised_at"))} AS arrive_median_s,
       {_worst(_secs("a.arrived_at", "a.raised_at"))} AS arrive_worst_s,
       count(a.id) FILTER (WHERE a.rescue) AS rescues,
       count(a.id) FILTER (WHERE a.late) AS rescues_late,
       (SELECT count(*) FROM scoped sc
         WHERE sc.next_inspection_due < (%(now)s AT TIME ZONE 'UTC')::date)
           AS inspections_overdue,
       (SELECT count(*) FROM scoped sc LEFT JOIN last_maintenance m ON m.elevator_pk = sc.pk
         WHERE coalesce(m.at, sc.registered_at) < %(now)s - make_interval(days => %(every)s))
           AS maintenance_overdue
  FROM a"""


def response(conn: psycopg.Connection, *, start: datetime, end: datetime,
             district: str | None, now: datetime,
             rescue_limit_s: float = RESCUE_LIMIT_S,
             maintenance_every_days: int = MAINTENANCE_EVERY_DAYS) -> Row:
    """Response statistics of alerts opened in [start, end) in a district (None: all):
    ``totals`` and one row per organization (``organizations``)."""
    params = {"start": start, "end": end, "district": district, "now": now,
              "limit_s": rescue_limit_s, "every": maintenance_every_days}
    with conn.cursor(row_factory=dict_row) as cur:
        orgs = cur.execute(_PER_ORG, params).fetchall()  # type: ignore[arg-type]
        totals = cur.execute(_TOTALS, params).fetchone() or {}  # type: ignore[arg-type]
    return {"totals": totals, "organizations": orgs}


HISTORY_COLUMNS = f"""
    a.id, e.id AS elevator_id, e.name AS elevator_name, s.name AS site_name, s.district,
    a.kind, a.severity, a.state, a.opened_at, a.raised_at,
    resp.id AS responsible_org_id, resp.name AS responsible_org,
    mo.name AS maintenance_org,
    a.escalation_level, a.acknowledged_at, a.acknowledged_by,
    (SELECT o.name FROM alert_events ev JOIN orgs o ON o.id = ev.org_id
      WHERE ev.alert_id = a.id AND ev.action = 'acknowledged' ORDER BY ev.at, ev.id LIMIT 1)
        AS acknowledged_by_org,
    a.arrived_at, a.arrived_by, a.resolved_at, a.resolved_by,
    round(extract(epoch FROM a.acknowledged_at - a.raised_at)::numeric, 1)::float8
        AS time_to_ack_s,
    round(extract(epoch FROM a.arrived_at - a.raised_at)::numeric, 1)::float8
        AS time_to_arrive_s,
    CASE WHEN a.kind = 'trapped_passenger' THEN {LATE_RESCUE} END AS rescue_late,
    a.note"""


def alert_history(conn: psycopg.Connection, *, principal: Principal, start: datetime,
                  end: datetime, district: str | None, now: datetime, limit: int,
                  rescue_limit_s: float = RESCUE_LIMIT_S) -> list[Row]:
    """Alerts the caller can see, opened in [start, end), oldest first, with who was
    responsible when each happened and who answered."""
    where, params = visible(principal)
    query = sql.SQL(
        "SELECT {cols} FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk "
        "JOIN sites s ON s.id = e.site_id " + CURRENT_PROPERTY_JOIN + " "
        "LEFT JOIN orgs resp ON resp.id = " + RESPONSIBLE_AT_OPENING + " "
        "LEFT JOIN orgs mo ON mo.id = e.maintenance_org_id "
        "WHERE {where} AND a.opened_at >= %(start)s AND a.opened_at < %(end)s "
        "AND (%(district)s::text IS NULL OR s.district = %(district)s) "
        "ORDER BY a.opened_at, a.id LIMIT %(limit)s").format(
            cols=sql.SQL(HISTORY_COLUMNS), where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "start": start, "end": end, "district": district,
                                   "now": now, "limit_s": rescue_limit_s,
                                   "limit": limit}).fetchall()


def responsible_at(conn: psycopg.Connection, *, alert_ids: list[int]) -> dict[int, Row]:
    """{alert id: {org_id, org_name}} of the property organization when each happened."""
    if not alert_ids:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT a.id, o.id AS org_id, o.name AS org_name FROM alerts a "
            f"LEFT JOIN orgs o ON o.id = {RESPONSIBLE_AT_OPENING} WHERE a.id = ANY(%s)",
            (alert_ids,)).fetchall()
    return {r.pop("id"): r for r in rows}


def org_names(conn: psycopg.Connection, *, org_ids: list[int]) -> dict[int, str]:
    """{org id: name} of the given organizations (those that exist)."""
    ids = sorted({i for i in org_ids if i is not None})
    if not ids:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT id, name FROM orgs WHERE id = ANY(%s)", (ids,)).fetchall()
    return {r["id"]: r["name"] for r in rows}
