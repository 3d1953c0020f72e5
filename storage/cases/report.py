"""The duty report (CONTRACT section 6, ``GET /reports/duty``): per organization, how it
answered the cases it had to report for duty on. Read-only: SELECT statements only.

Which cases: those *opened* in ``[start, end)`` at sites of the district (all districts
when ``district`` is None). Which organizations: every party of those cases that was
required or reported for duty. Per organization:

- ``cases_required``: cases where it was a required party; of those
  ``on_duty_in_time`` (``on_duty_at <= accept_by``), ``on_duty_late`` (after it),
  ``never`` (no ``on_duty_at`` although ``accept_by`` has passed, or the case was resolved
  or closed without it; a case cancelled before ``accept_by`` is not held against anyone)
  and ``pending`` (still within ``accept_by``, or cancelled before it);
- ``cases_on_duty``: cases it reported for duty on, required or not;
- median and worst seconds from the case's ``opened_at`` to its own ``on_duty_at``, to
  its own ``arrived_at``, and to the case's ``resolved_at`` (cases it was required on or
  on duty for);
- ``rescues`` (rescue cases it was required on or on duty for) and
  ``rescues_arrived_in_time``: of those, someone arrived on site within
  :data:`core.cases.RESCUE_ARRIVAL_TARGET_S` of the case opening;
- ``reopened``: its cases that the reporter reopened at least once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.cases import RESCUE_ARRIVAL_TARGET_S

__all__ = ["ORG_COLUMNS", "duty"]

Row = dict[str, Any]

ORG_COLUMNS = ("org_id", "org_name", "org_kind", "org_district", "cases_required",
               "on_duty_in_time", "on_duty_late", "never", "pending", "cases_on_duty",
               "on_duty_median_s", "on_duty_worst_s", "arrive_median_s", "arrive_worst_s",
               "resolve_median_s", "resolve_worst_s", "rescues", "rescues_arrived_in_time",
               "reopened")


def _secs(later: str) -> str:
    return (f"CASE WHEN {later} IS NOT NULL THEN "
            f"greatest(0, extract(epoch FROM {later} - x.opened_at))::float8 END")


def _median(expr: str) -> str:
    return f"round((percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr}))::numeric, 1)::float8"


def _worst(expr: str) -> str:
    return f"round(max({expr})::numeric, 1)::float8"


_NEVER = ("x.required AND x.on_duty_at IS NULL AND (x.state IN ('resolved', 'closed') "
          "OR (x.accept_by <= %(now)s AND (x.state <> 'cancelled' "
          "OR x.closed_at >= x.accept_by)))")
_ANSWERING = "(x.required OR x.on_duty_at IS NOT NULL)"
_IN_TIME = (f"x.kind = 'rescue' AND x.case_arrived_at IS NOT NULL AND "
            f"x.case_arrived_at - x.opened_at <= make_interval(secs => "
            f"{RESCUE_ARRIVAL_TARGET_S})")

_CASES = """
    SELECT c.id, c.kind, c.state, c.opened_at, c.accept_by, c.resolved_at, c.closed_at,
           c.arrived_at AS case_arrived_at, c.reopened
    FROM cases c JOIN sites s ON s.id = c.site_id
    WHERE c.opened_at >= %(start)s AND c.opened_at < %(end)s
      AND (%(district)s::text IS NULL OR s.district = %(district)s)"""

_PER_ORG = f"""
WITH k AS ({_CASES}),
x AS (
    SELECT k.*, p.org_id, p.required, p.on_duty_at, p.arrived_at
    FROM k JOIN case_parties p ON p.case_id = k.id
    WHERE p.required OR p.on_duty_at IS NOT NULL)
SELECT o.id AS org_id, o.name AS org_name, o.kind::text AS org_kind,
       o.district AS org_district,
       count(*) FILTER (WHERE x.required)::int AS cases_required,
       count(*) FILTER (WHERE x.required AND x.on_duty_at <= x.accept_by)::int
           AS on_duty_in_time,
       count(*) FILTER (WHERE x.required AND x.on_duty_at > x.accept_by)::int AS on_duty_late,
       count(*) FILTER (WHERE {_NEVER})::int AS never,
       count(*) FILTER (WHERE x.required AND x.on_duty_at IS NULL AND NOT ({_NEVER}))::int
           AS pending,
       count(*) FILTER (WHERE x.on_duty_at IS NOT NULL)::int AS cases_on_duty,
       {_median(_secs('x.on_duty_at'))} AS on_duty_median_s,
       {_worst(_secs('x.on_duty_at'))} AS on_duty_worst_s,
       {_median(_secs('x.arrived_at'))} AS arrive_median_s,
       {_worst(_secs('x.arrived_at'))} AS arrive_worst_s,
       {_median(_secs('x.resolved_at'))} AS resolve_median_s,
       {_worst(_secs('x.resolved_at'))} AS resolve_worst_s,
       count(*) FILTER (WHERE x.kind = 'rescue' AND {_ANSWERING})::int AS rescues,
       count(*) FILTER (WHERE {_IN_TIME})::int AS rescues_arrived_in_time,
       count(*) FILTER (WHERE x.reopened > 0)::int AS reopened
FROM x JOIN orgs o ON o.id = x.org_id
GROUP BY o.id, o.name, o.kind, o.district
ORDER BY o.kind::text, o.name, o.id"""

_TOTALS = f"""
WITH x AS ({_CASES})
SELECT count(*)::int AS cases,
       count(*) FILTER (WHERE x.state IN ('open', 'on_site'))::int AS active,
       count(*) FILTER (WHERE x.kind = 'rescue')::int AS rescues,
       count(*) FILTER (WHERE {_IN_TIME})::int
           AS rescues_arrived_in_time,
       count(*) FILTER (WHERE x.reopened > 0)::int AS reopened,
       {_median(_secs('x.resolved_at'))} AS resolve_median_s,
       {_worst(_secs('x.resolved_at'))} AS resolve_worst_s
FROM x"""


def duty(conn: psycopg.Connection, *, start: datetime, end: datetime,
         district: str | None, now: datetime) -> dict[str, Any]:
    """``{"organizations": [...], "totals": {...}}`` for cases opened in [start, end)."""
    params = {"start": start, "end": end, "district": district, "now": now}
    with conn.cursor(row_factory=dict_row) as cur:
        organizations = cur.execute(_PER_ORG, params).fetchall()
        totals = cur.execute(_TOTALS, params).fetchone() or {}
    return {"organizations": organizations, "totals": totals}
