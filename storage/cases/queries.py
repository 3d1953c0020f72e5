"""Reading cases: the case object of CONTRACT section 6, who may see it, its audit trail,
its chain of responsibility, and what the escalation job must look at. Nothing here
changes a case; :mod:`storage.cases.changes` does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from core.chain import LEVEL_KINDS, Level
from core.domain import DISTRICT_KINDS, OrgKind, Principal
from storage import scope
from storage.errors import NotFound
from storage.scope import CURRENT_PROPERTY_JOIN

Row = dict[str, Any]

CASE_FROM = f"""
    FROM cases c JOIN sites s ON s.id = c.site_id
    LEFT JOIN elevators e ON e.pk = c.elevator_pk
    {CURRENT_PROPERTY_JOIN}"""

_PARTIES = """
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
        'org_id', p.org_id, 'org_name', o.name, 'kind', p.kind, 'required', p.required,
        'level', p.level, 'called_at', p.called_at, 'on_duty_at', p.on_duty_at,
        'on_duty_by', p.on_duty_by, 'arrived_at', p.arrived_at, 'arrived_by', p.arrived_by,
        'late', p.late) ORDER BY p.level NULLS LAST, p.required DESC, p.org_id), '[]')
     FROM case_parties p JOIN orgs o ON o.id = p.org_id WHERE p.case_id = c.id)"""

_REPORTS = """
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
        'id', r.id, 'category', r.category, 'description', r.description,
        'contact', r.contact, 'received_at', r.received_at, 'solved', r.solved,
        'feedback_at', r.feedback_at, 'comment', r.comment) ORDER BY r.id), '[]')
     FROM case_reports r WHERE r.case_id = c.id)"""

# The case object of CONTRACT section 6, plus extensions after `rescued_at`.
CASE_COLUMNS = f"""
    c.id, c.kind, c.state, e.id AS elevator_id, c.site_id, s.name AS site_name, s.district,
    c.source, c.opened_at, c.updated_at, c.description,
    ARRAY(SELECT ca.alert_id FROM case_alerts ca WHERE ca.case_id = c.id
          ORDER BY ca.alert_id) AS alerts,
    {_REPORTS} AS reports, {_PARTIES} AS parties,
    c.level, c.overdue, c.accept_by, c.arrive_by, c.resolve_by, c.resolved_at, c.resolved_by,
    c.cause, c.closed_at, c.closed_by, c.reopened, c.trapped_count, c.injured_count,
    c.rescued_at,
    c.severity, c.opened_by, c.arrived_at, c.cancel_reason, c.contact, c.hazards,
    c.rectify_by, e.name AS elevator_name, e.rescue_code,
    (SELECT count(*) FROM case_reports r WHERE r.case_id = c.id)::int AS report_count"""

EVENT_COLUMNS = "id, at, action, actor, org_id, details"

# What decides who sees a case now, as :func:`visible` decides it (for the SSE streams):
# the fields storage.scope.can_see reads (a site's case: the site's property
# organization), the maintenance organizations of a site's elevators, and the parties.
SCOPE_COLUMNS = """
    coalesce(cp.property_org_id, CASE WHEN c.elevator_pk IS NULL THEN s.property_org_id END)
        AS scope_property_org_id,
    e.maintenance_org_id AS scope_maintenance_org_id,
    CASE WHEN c.elevator_pk IS NULL THEN ARRAY(SELECT DISTINCT m.maintenance_org_id
        FROM elevators m WHERE m.site_id = c.site_id AND m.maintenance_org_id IS NOT NULL)
        ELSE '{}'::integer[] END AS scope_site_maintenance_org_ids,
    ARRAY(SELECT p.org_id FROM case_parties p WHERE p.case_id = c.id)
        AS scope_party_org_ids"""


def _party(org: str) -> str:
    return f"EXISTS (SELECT 1 FROM case_parties p WHERE p.case_id = c.id AND p.org_id = {org})"


def visible(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """A WHERE clause (over c, e, s, cp) selecting the cases the caller may see: those of
    the elevators (or, for a site's case, the sites) it sees, and those it is a party of."""
    if principal.is_admin:
        return sql.SQL("true"), {}
    org = {"scope_org": principal.org_id}
    party = _party("%(scope_org)s")
    if principal.kind == OrgKind.PROPERTY:
        return sql.SQL(
            "(cp.property_org_id = %(scope_org)s OR (c.elevator_pk IS NULL AND "
            f"s.property_org_id = %(scope_org)s) OR {party})"), org
    if principal.kind == OrgKind.MAINTENANCE:
        return sql.SQL(
            "(e.maintenance_org_id = %(scope_org)s OR (c.elevator_pk IS NULL AND EXISTS ("
            "SELECT 1 FROM elevators m WHERE m.site_id = c.site_id "
            f"AND m.maintenance_org_id = %(scope_org)s)) OR {party})"), org
    if principal.kind in DISTRICT_KINDS:
        return (sql.SQL(f"(s.district = %(scope_district)s OR {party})"),
                {**org, "scope_district": principal.district})
    return sql.SQL("false"), {}


def can_see(principal: Principal, row: Row) -> bool:
    """:func:`visible` in Python, over a row of :func:`with_scope`."""
    if scope.can_see(principal, row):
        return True
    if principal.org_id is None:
        return False
    if principal.org_id in (row.get("scope_party_org_ids") or ()):
        return True
    return bool(principal.kind == OrgKind.MAINTENANCE and row.get("elevator_id") is None
                and principal.org_id in (row.get("scope_site_maintenance_org_ids") or ()))


def without_contacts(row: Row) -> Row:
    """The case object for anyone who may see it: no contact, no scope fields."""
    out = {k: v for k, v in row.items() if not k.startswith("scope_") and k != "contact"}
    out["reports"] = [{k: v for k, v in r.items() if k != "contact"}
                      for r in row.get("reports") or []]
    return out


def with_scope(conn: psycopg.Connection, *, case_ids: list[int]) -> list[Row]:
    """Cases with the fields that decide who sees them now (see :func:`can_see`)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql.SQL("SELECT {cols}, {scope} {frm} WHERE c.id = ANY(%(ids)s)")
                           .format(cols=sql.SQL(CASE_COLUMNS), scope=sql.SQL(SCOPE_COLUMNS),
                                   frm=sql.SQL(CASE_FROM)), {"ids": case_ids}).fetchall()


def _select(where: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT {cols} {frm} WHERE {where}").format(
        cols=sql.SQL(CASE_COLUMNS), frm=sql.SQL(CASE_FROM), where=where)


def get(conn: psycopg.Connection, *, case_id: int) -> Row:
    """One case regardless of scope; NotFound if absent."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_select(sql.SQL("c.id = %(id)s")), {"id": case_id}).fetchone()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    return row


def get_visible(conn: psycopg.Connection, *, principal: Principal, case_id: int) -> Row:
    """One case the caller can see; NotFound otherwise (also across scopes)."""
    where, params = visible(principal)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_select(sql.SQL("c.id = %(id)s AND {w}").format(w=where)),
                          {**params, "id": case_id}).fetchone()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    return row


def list_visible(conn: psycopg.Connection, *, principal: Principal, limit: int, offset: int,
                 state: str | None = None, kind: str | None = None,
                 elevator_id: str | None = None, site_id: int | None = None,
                 overdue: bool | None = None, party_org: int | None = None,
                 district: str | None = None, active_first: bool = False) -> list[Row]:
    """Cases the caller can see, newest first (or overdue and active first), filtered."""
    where, params = visible(principal)
    order = ("c.overdue DESC, array_position(ARRAY['open','on_site','resolved','closed',"
             "'cancelled'], c.state), c.level DESC, c.opened_at DESC, c.id DESC"
             if active_first else "c.opened_at DESC, c.id DESC")
    query = sql.SQL(
        "{select} AND (%(state)s::text IS NULL OR c.state = %(state)s) "
        "AND (%(kind)s::text IS NULL OR c.kind = %(kind)s) "
        "AND (%(eid)s::text IS NULL OR e.id = %(eid)s) "
        "AND (%(site_id)s::integer IS NULL OR c.site_id = %(site_id)s) "
        "AND (%(overdue)s::boolean IS NULL OR c.overdue = %(overdue)s) "
        "AND (%(district)s::text IS NULL OR s.district = %(district)s) "
        f"AND (%(party)s::integer IS NULL OR {_party('%(party)s')}) "
        f"ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s").format(select=_select(where))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "state": state, "kind": kind, "eid": elevator_id,
                                   "site_id": site_id, "overdue": overdue,
                                   "district": district, "party": party_org,
                                   "limit": limit, "offset": offset}).fetchall()


def events(conn: psycopg.Connection, *, case_id: int) -> list[Row]:
    """The audit trail of one case, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {EVENT_COLUMNS} FROM case_events WHERE case_id = %s "
                           "ORDER BY at, id", (case_id,)).fetchall()


def party(conn: psycopg.Connection, *, case_id: int, org_id: int | None) -> Row | None:
    """The caller's organization on a case (None if it is no party)."""
    if org_id is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM case_parties WHERE case_id = %s AND org_id = %s",
                           (case_id, org_id)).fetchone()


def open_case_for(conn: psycopg.Connection, *, elevator_pk: int, kind: str) -> Row | None:
    """The elevator's open (or on-site) case of a kind, if any."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, state, level FROM cases WHERE elevator_pk = %s AND kind = %s "
            "AND state IN ('open', 'on_site')", (elevator_pk, kind)).fetchone()


def case_of_alert(conn: psycopg.Connection, *, alert_id: int) -> int | None:
    """The case an alert was gathered into."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT case_id FROM case_alerts WHERE alert_id = %s",
                          (alert_id,)).fetchone()
    return int(row[0]) if row else None


def for_elevator(conn: psycopg.Connection, *, elevator_pk: int, limit: int = 50) -> list[Row]:
    """An elevator's cases, newest first (the elevator page)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_select(sql.SQL("c.elevator_pk = %(pk)s")) + sql.SQL(
            " ORDER BY c.opened_at DESC LIMIT %(limit)s"), {"pk": elevator_pk, "limit": limit}
                           ).fetchall()


def _level_select(level: Level) -> str:
    kinds = ", ".join(f"'{k.value}'" for k in LEVEL_KINDS[level])
    if level == Level.PROPERTY:
        on = ("o.id = coalesce(cp.property_org_id, CASE WHEN t.elevator_pk IS NULL "
              "THEN t.site_property END)")
    elif level == Level.MAINTENANCE:
        on = "o.id = t.maintenance_org_id"
    else:
        on = f"o.kind::text IN ({kinds}) AND o.district = t.district"
    return (f"SELECT t.id AS case_id, {int(level)} AS level, o.id, o.name, "
            f"o.kind::text AS kind FROM t {CURRENT_PROPERTY_JOIN.replace('e.pk', 't.elevator_pk')}"
            f" JOIN orgs o ON {on} AND (o.ended_at IS NULL OR o.ended_at > now())")


# The chain of each case: one row per (level, organization), from core.chain's levels; a
# site's case has the site's property organization and its district's organizations.
_CHAIN = (
    "WITH t AS (SELECT c.id, c.elevator_pk, e.maintenance_org_id, s.district, "
    "  s.property_org_id AS site_property FROM cases c JOIN sites s ON s.id = c.site_id "
    "  LEFT JOIN elevators e ON e.pk = c.elevator_pk WHERE c.id = ANY(%(ids)s)) "
    + " UNION ALL ".join(_level_select(level) for level in Level)
    + " ORDER BY 1, 2, 3")


def chain(conn: psycopg.Connection, *, case_ids: list[int]) -> dict[int, list[Row]]:
    """{case_id: [{level, id, name, kind}, ...]}: who answers at each level."""
    out: dict[int, list[Row]] = {cid: [] for cid in case_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        for r in cur.execute(_CHAIN, {"ids": case_ids}).fetchall():
            out[r.pop("case_id")].append(r)
    return out


def due_for_escalation(conn: psycopg.Connection, *, now: datetime, max_level: int,
                       step_s_by_severity: dict[str, float]) -> list[Row]:
    """Active cases whose next climb is due, locked: nobody on duty for a step, or overdue
    for a step since the last climb."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT c.id, c.level, c.overdue, c.kind FROM cases c "
            "WHERE c.state IN ('open', 'on_site') AND c.level < %(max)s "
            "AND coalesce(c.escalated_at, c.opened_at) + make_interval(secs => "
            "  (%(sevs)s::jsonb ->> c.severity)::float8) <= %(now)s "
            "AND (c.overdue OR (c.state = 'open' AND NOT EXISTS (SELECT 1 FROM case_parties p "
            "  WHERE p.case_id = c.id AND p.on_duty_at IS NOT NULL))) "
            "ORDER BY c.opened_at, c.id FOR UPDATE OF c SKIP LOCKED",
            {"now": now, "max": max_level, "sevs": Jsonb(step_s_by_severity)}).fetchall()


def outbox_pending(conn: psycopg.Connection) -> int:
    """Case changes not yet published."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT count(*) FROM case_outbox").fetchone()
    return int(row[0]) if row else 0


def by_reference(conn: psycopg.Connection, *, reference: str) -> Row:
    """A resident's report and its case, for the holder of the reference; NotFound."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT r.id AS report_id, r.reference, r.category, r.received_at, r.solved, "
            "r.feedback_at, c.id AS case_id, c.kind, c.state, c.opened_at, c.updated_at, "
            "c.resolved_at, c.cause, c.arrived_at, c.rescued_at, c.reopened, "
            "e.name AS elevator_name, s.name AS site_name, "
            "(SELECT count(*) FROM case_reports x WHERE x.case_id = c.id)::int AS report_count, "
            "(SELECT coalesce(jsonb_agg(jsonb_build_object('org_name', o.name, 'kind', p.kind, "
            "   'on_duty_at', p.on_duty_at, 'arrived_at', p.arrived_at) "
            "   ORDER BY p.on_duty_at NULLS LAST, p.level NULLS LAST, p.org_id), '[]') "
            " FROM case_parties p JOIN orgs o ON o.id = p.org_id WHERE p.case_id = c.id "
            " AND (p.required OR p.on_duty_at IS NOT NULL)) AS parties "
            "FROM case_reports r JOIN cases c ON c.id = r.case_id "
            "JOIN sites s ON s.id = c.site_id LEFT JOIN elevators e ON e.pk = c.elevator_pk "
            "WHERE r.reference = %s", (reference,)).fetchone()
    if row is None:
        raise NotFound("no report has this reference")
    return row


def visible_site(conn: psycopg.Connection, *, principal: Principal, site_id: int) -> Row:
    """A site the caller sees (as the site of a whole-site case); NotFound otherwise."""
    where, params = visible(principal)
    query = sql.SQL(
        "SELECT s.id, s.name, s.district FROM sites s LEFT JOIN LATERAL (SELECT "
        "NULL::bigint AS id, NULL::integer AS elevator_pk, s.id AS site_id) c ON true "
        "LEFT JOIN elevators e ON false "
        "LEFT JOIN LATERAL (SELECT NULL::integer AS property_org_id) cp ON true "
        "WHERE s.id = %(site)s AND ({w} OR EXISTS (SELECT 1 FROM elevators x "
        f"{CURRENT_PROPERTY_JOIN.replace('e.pk', 'x.pk').replace(' cp ', ' xp ')} "
        "WHERE x.site_id = s.id AND (xp.property_org_id = %(me)s "
        "OR x.maintenance_org_id = %(me)s)))").format(w=where)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, {**params, "site": site_id,
                                  "me": principal.org_id if principal.org_id else -1}
                          ).fetchone()
    if row is None:
        raise NotFound(f"site {site_id} does not exist")
    return row


def elevators_by_rescue_code(conn: psycopg.Connection, *, principal: Principal, code: str
                             ) -> list[str]:
    """Ids of the visible elevators carrying a rescue code (one per district)."""
    from storage.scope import visible as elevator_visible

    where, params = elevator_visible(principal)
    query = sql.SQL("SELECT e.id FROM elevators e JOIN sites s ON s.id = e.site_id "
                    f"{CURRENT_PROPERTY_JOIN} WHERE e.rescue_code = %(code)s AND {{w}} "
                    "ORDER BY e.id").format(w=where)
    with conn.cursor(row_factory=tuple_row) as cur:
        return [str(r[0]) for r in cur.execute(query, {**params, "code": code}).fetchall()]


def urgent(conn: psycopg.Connection, *, case_ids: list[int]) -> bool:
    """Whether any of these cases is a rescue or critical (what quiet hours never hold)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute("SELECT EXISTS (SELECT 1 FROM cases WHERE id = ANY(%s) AND "
                           "(kind = 'rescue' OR severity = 'critical'))",
                           (case_ids,)).fetchone() == (True,)
