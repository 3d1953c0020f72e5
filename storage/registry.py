"""Organizations, tokens, sites, elevators and who is responsible for each elevator."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from core.domain import DISTRICT_KINDS, OrgKind, Principal
from storage import access, outbox
from storage.errors import Conflict, Invalid, NotFound
from storage.scope import CURRENT_PROPERTY_JOIN, property_org_at, visible

Row = dict[str, Any]


def hash_token(token: str) -> bytes:
    """SHA-256 of a token (tokens are 256-bit random, so no slow hash is needed)."""
    return access.hash_secret(token)


# --- organizations and tokens ----------------------------------------------------------
def create_org(conn: psycopg.Connection, *, name: str, kind: OrgKind, district: str | None
               ) -> Row:
    """Create an organization; Conflict if the name is taken."""
    if kind in DISTRICT_KINDS and not district:
        raise Invalid("district", f"an organization of kind {kind} needs a district")
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "INSERT INTO orgs (name, kind, district) VALUES (%s, %s, %s) "
                "RETURNING id, name, kind::text, district, created_at",
                (name, kind.value, district)).fetchone() or {}
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"an organization named {name!r} already exists") from None


def get_org(conn: psycopg.Connection, *, org_id: int) -> Row:
    """One organization; NotFound if absent."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT id, name, kind::text, district, created_at FROM orgs "
                          "WHERE id = %s", (org_id,)).fetchone()
    if row is None:
        raise NotFound(f"organization {org_id} does not exist")
    return row


def list_orgs(conn: psycopg.Connection, *, limit: int, offset: int) -> list[Row]:
    """All organizations, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, name, kind::text, district, created_at FROM orgs "
                           "ORDER BY id LIMIT %s OFFSET %s", (limit, offset)).fetchall()


def create_token(conn: psycopg.Connection, *, org_id: int, label: str | None, **more: Any
                 ) -> Row:
    """A new API token for the organization (see :func:`storage.access.create_token`)."""
    get_org(conn, org_id=org_id)
    return access.create_token(conn, org_id=org_id, label=label, **more)


def principal_for_token(conn: psycopg.Connection, *, token: str) -> Principal | None:
    """The caller behind a token (see :func:`storage.access.principal_for_token`)."""
    return access.principal_for_token(conn, token=token)


def works_in_district(conn: psycopg.Connection, *, org_id: int, district: str | None
                      ) -> bool:
    """The organization is of the district, or answers for an elevator in it."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute(
            "SELECT EXISTS (SELECT 1 FROM orgs WHERE id = %(org)s AND district = %(d)s) OR "
            "EXISTS (SELECT 1 FROM elevators e JOIN sites s ON s.id = e.site_id "
            f"WHERE s.district = %(d)s AND (e.maintenance_org_id = %(org)s OR "
            f"{property_org_at('e.pk')} = %(org)s OR s.property_org_id = %(org)s))",
            {"org": org_id, "d": district}).fetchone() == (True,)


# --- sites -----------------------------------------------------------------------------
def _require_org(conn: psycopg.Connection, field: str, org_id: int, kind: OrgKind) -> None:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT kind::text FROM orgs WHERE id = %s", (org_id,)).fetchone()
    if row is None:
        raise Invalid(field, f"organization {org_id} does not exist")
    if row[0] != kind:
        raise Invalid(field, f"organization {org_id} is a {row[0]} organization, not {kind}")


def create_site(conn: psycopg.Connection, *, name: str, address: str, district: str,
                property_org_id: int) -> Row:
    """Create a site; Conflict if a site with this name and address exists."""
    _require_org(conn, "property_org_id", property_org_id, OrgKind.PROPERTY)
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "INSERT INTO sites (name, address, district, property_org_id) "
                "VALUES (%s, %s, %s, %s) "
                "RETURNING id, name, address, district, property_org_id, created_at",
                (name, address, district, property_org_id)).fetchone() or {}
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"a site named {name!r} at {address!r} already exists") from None


def list_sites(conn: psycopg.Connection, *, principal: Principal, limit: int, offset: int
               ) -> list[Row]:
    """Sites the caller can see: those with at least one visible elevator (admin: all),
    each with the number of its elevators the caller sees; the site's property organization
    only to an admin or to that organization itself."""
    where, params = visible(principal)
    query = sql.SQL(
        "SELECT s.id, s.name, s.address, s.district, "
        "CASE WHEN {admin} OR s.property_org_id = %(caller_org)s THEN s.property_org_id "
        "END AS property_org_id, s.created_at, "
        "count(e.pk) FILTER (WHERE {where}) AS elevators "
        "FROM sites s LEFT JOIN elevators e ON e.site_id = s.id "
        f"{CURRENT_PROPERTY_JOIN} "
        "GROUP BY s.id HAVING {admin} OR count(e.pk) FILTER (WHERE {where}) > 0 "
        "ORDER BY s.id LIMIT %(limit)s OFFSET %(offset)s").format(
            admin=sql.Literal(principal.is_admin), where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "caller_org": principal.org_id, "limit": limit,
                                   "offset": offset}).fetchall()


# --- elevators -------------------------------------------------------------------------
# The status of CONTRACT section 3, first that applies. Alert-based statuses come from
# the alerts table; offline is also derived from the connection state and silence so
# the API is right even before the rules engine has noticed.
STATUS = """
CASE
  WHEN e.sealed_at IS NOT NULL OR st.latest->>'mode' = 'out_of_service' THEN 'out_of_service'
  WHEN st.last_seen IS NULL THEN 'unknown'
  WHEN (st.connection = 'offline'
        AND st.connection_at >= coalesce(st.data_at, '-infinity'::timestamptz))
    OR st.last_seen < now() - make_interval(secs => %(offline_after)s)
    OR EXISTS (SELECT 1 FROM alerts a WHERE a.elevator_pk = e.pk AND a.state <> 'resolved'
               AND a.kind = 'offline') THEN 'offline'
  WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.elevator_pk = e.pk AND a.state <> 'resolved'
               AND a.severity IN ('critical', 'major')) THEN 'fault'
  WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.elevator_pk = e.pk AND a.state <> 'resolved')
    THEN 'warning'
  ELSE 'normal'
END"""

ELEVATOR_COLUMNS = f"""
    e.pk, e.id, e.site_id, e.name, e.rated_speed_mps, e.rated_load_kg, e.min_floor,
    e.max_floor, e.travel_m, e.landings_m, e.model, e.maintenance_org_id,
    e.next_inspection_due, e.registered_at, e.sealed_at, e.registration_code, e.rescue_code,
    e.report_code, e.decommissioned_at, e.decommissioned_by, e.decommission_reason,
    s.name AS site_name, s.district, cp.property_org_id,
    st.last_seen, st.last_ts, st.connection, st.connection_at,
    {STATUS} AS status"""

ELEVATOR_FROM = f"""
    FROM elevators e JOIN sites s ON s.id = e.site_id
    {CURRENT_PROPERTY_JOIN}
    LEFT JOIN elevator_state st ON st.elevator_pk = e.pk"""


def create_elevator(conn: psycopg.Connection, *, recorded_by: str, id: str, site_id: int,
                    name: str, rated_speed_mps: float, rated_load_kg: float, min_floor: int,
                    max_floor: int, travel_m: float, landings_m: list[float],
                    model: str | None, maintenance_org_id: int | None,
                    next_inspection_due: date | None, registration_code: str | None = None,
                    rescue_code: str | None = None) -> Row:
    """Register an elevator; its property organization is the site's, from now.

    ``rescue_code`` must be unique in the site's district and ``registration_code`` unique
    everywhere (Conflict otherwise, decided by unique indexes, so concurrent registrations
    cannot both win)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        site = cur.execute("SELECT property_org_id, district FROM sites WHERE id = %s",
                           (site_id,)).fetchone()
    if site is None:
        raise Invalid("site_id", f"site {site_id} does not exist")
    if maintenance_org_id is not None:
        _require_org(conn, "maintenance_org_id", maintenance_org_id, OrgKind.MAINTENANCE)
    try:
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            pk = cur.execute(
                "INSERT INTO elevators (id, site_id, name, rated_speed_mps, rated_load_kg, "
                "min_floor, max_floor, travel_m, landings_m, model, maintenance_org_id, "
                "next_inspection_due, registration_code, rescue_code, rescue_district) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING pk",
                (id, site_id, name, rated_speed_mps, rated_load_kg, min_floor, max_floor,
                 travel_m, landings_m, model, maintenance_org_id, next_inspection_due,
                 registration_code, rescue_code, site[1] if rescue_code else None)
            ).fetchone()
            assert pk is not None
            cur.execute(
                "INSERT INTO elevator_property (elevator_pk, effective_from, org_id, "
                "recorded_by) VALUES (%s, now(), %s, %s)", (pk[0], site[0], recorded_by))
            if maintenance_org_id is not None:
                cur.execute("INSERT INTO elevator_maintenance (elevator_pk, org_id, "
                            "recorded_by) VALUES (%s, %s, %s)",
                            (pk[0], maintenance_org_id, recorded_by))
            outbox.notify(conn, outbox.REGISTRY_CHANNEL, {"elevator_pk": pk[0],
                                                          "change": "registered"})
    except psycopg.errors.UniqueViolation as exc:
        index = exc.diag.constraint_name or ""
        if index == "elevators_rescue_code_per_district":
            raise Conflict(f"rescue_code {rescue_code!r} is already used in district "
                           f"{site[1]!r}") from None
        if index == "elevators_registration_code":
            raise Conflict(f"registration_code {registration_code!r} is already "
                           "registered") from None
        raise Conflict(f"elevator {id!r} is already registered") from None
    return get_elevator(conn, principal=ADMIN, elevator_id=id, offline_after_s=90)


ADMIN = Principal(org_id=None, kind=OrgKind.ADMIN, name="system")


def _like(q: str | None) -> str | None:
    """A LIKE pattern matching q anywhere, with q's own wildcards taken literally."""
    if q is None:
        return None
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_elevators(conn: psycopg.Connection, *, principal: Principal, offline_after_s: float,
                   limit: int, offset: int, site_id: int | None = None,
                   status: str | None = None, district: str | None = None,
                   q: str | None = None, nobody_responsible: bool = False,
                   decommissioned: bool = False) -> list[Row]:
    """Visible elevators with their status, in id order; ``q`` matches the id, name,
    registration code or rescue code (case-insensitive, part of the id or name);
    ``nobody_responsible``: only those without a property or maintenance organization;
    decommissioned elevators only with ``decommissioned``."""
    where, params = visible(principal)
    filters = [where] if decommissioned else [where, sql.SQL("e.decommissioned_at IS NULL")]
    if nobody_responsible:
        filters.append(sql.SQL("(cp.property_org_id IS NULL OR e.maintenance_org_id IS NULL)"))
    if q is not None:
        filters.append(sql.SQL(
            "(e.id ILIKE %(q_like)s OR e.name ILIKE %(q_like)s "
            "OR e.registration_code = upper(%(q)s) OR e.rescue_code = %(q)s)"))
    if site_id is not None:
        filters.append(sql.SQL("e.site_id = %(site_id)s"))
    if district is not None:
        filters.append(sql.SQL("s.district = %(district)s"))
    query = sql.SQL(
        "SELECT * FROM (SELECT {cols} {frm} WHERE {where}) x "
        "WHERE %(status)s::text IS NULL OR x.status = %(status)s "
        "ORDER BY x.id LIMIT %(limit)s OFFSET %(offset)s").format(
            cols=sql.SQL(ELEVATOR_COLUMNS), frm=sql.SQL(ELEVATOR_FROM),
            where=sql.SQL(" AND ").join(filters))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, "offline_after": offline_after_s,
                                   "site_id": site_id, "district": district,
                                   "q": q, "q_like": _like(q), "status": status, "limit": limit,
                                   "offset": offset}).fetchall()


def get_elevator(conn: psycopg.Connection, *, principal: Principal, elevator_id: str,
                 offline_after_s: float) -> Row:
    """One visible elevator with status and latest sample; NotFound otherwise."""
    where, params = visible(principal)
    query = sql.SQL("SELECT {cols}, st.latest {frm} WHERE e.id = %(elevator_id)s AND {where}"
                    ).format(cols=sql.SQL(ELEVATOR_COLUMNS), frm=sql.SQL(ELEVATOR_FROM),
                             where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, {**params, "elevator_id": elevator_id,
                                  "offline_after": offline_after_s}).fetchone()
    if row is None:
        raise NotFound(f"elevator {elevator_id!r} does not exist")
    return row


PATCHABLE = ("name", "model", "maintenance_org_id", "next_inspection_due", "rated_speed_mps",
             "rated_load_kg", "registration_code", "rescue_code")


def patch_elevator(conn: psycopg.Connection, *, elevator_pk: int, changes: dict[str, Any],
                   recorded_by: str) -> None:
    """Change registry fields of an elevator; a new maintenance organization (or none) is
    kept in its maintenance history. Conflict for a code already used."""
    unknown = set(changes) - set(PATCHABLE)
    assert not unknown, f"not patchable: {unknown}"
    if changes.get("maintenance_org_id") is not None:
        _require_org(conn, "maintenance_org_id", changes["maintenance_org_id"],
                     OrgKind.MAINTENANCE)
    sets: list[sql.Composable] = [sql.SQL("{} = {}").format(sql.Identifier(k),
                                                            sql.Placeholder(k))
                                  for k in changes]
    if "rescue_code" in changes:
        sets.append(sql.SQL("rescue_district = (SELECT district FROM sites "
                            "WHERE id = elevators.site_id)"))
    try:
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            before = cur.execute("SELECT maintenance_org_id FROM elevators WHERE pk = %s "
                                 "FOR UPDATE", (elevator_pk,)).fetchone()
            cur.execute(sql.SQL("UPDATE elevators SET {} WHERE pk = {}").format(
                sql.SQL(", ").join(sets), sql.Placeholder("pk")), {**changes, "pk": elevator_pk})
            if "maintenance_org_id" in changes and before is not None \
                    and before[0] != changes["maintenance_org_id"]:
                cur.execute("INSERT INTO elevator_maintenance (elevator_pk, org_id, "
                            "recorded_by) VALUES (%s, %s, %s)",
                            (elevator_pk, changes["maintenance_org_id"], recorded_by))
            outbox.notify(conn, outbox.REGISTRY_CHANNEL, {"elevator_pk": elevator_pk,
                                                          "change": "patched"})
    except psycopg.errors.UniqueViolation as exc:
        field = "rescue_code" if "rescue" in str(exc.diag.constraint_name) \
            else "registration_code"
        raise Conflict(f"{field} {changes.get(field)!r} is already used") from None


def patch_row(conn: psycopg.Connection, *, table: str, row_id: int, changes: dict[str, Any],
              what: str) -> Row:
    """Change columns of an organization or a site; the row after. NotFound, Conflict for
    a name (and address) already taken."""
    assert table in ("orgs", "sites")
    sets = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k))
                              for k in changes)
    columns = ("id, name, kind::text AS kind, district, created_at" if table == "orgs"
               else "id, name, address, district, created_at")
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(sql.SQL("UPDATE {} SET {} WHERE id = {} RETURNING {}").format(
                sql.Identifier(table), sets, sql.Placeholder("row_id"), sql.SQL(columns)),
                {**changes, "row_id": row_id}).fetchone()
            if table == "sites" and row is not None:  # the site's elevators may move
                outbox.notify(conn, outbox.REGISTRY_CHANNEL, {"change": "site"})
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"another {what} already has this name") from None
    except psycopg.errors.CheckViolation:
        raise Invalid("district", f"this {what} needs a district") from None
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


def maintenance_history(conn: psycopg.Connection, *, elevator_pk: int) -> list[Row]:
    """Every maintenance organization the elevator had (or none), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT m.org_id, o.name AS org_name, m.effective_from, "
            "lead(m.effective_from) OVER (ORDER BY m.effective_from) AS effective_to, "
            "m.recorded_at, m.recorded_by, m.reason FROM elevator_maintenance m "
            "LEFT JOIN orgs o ON o.id = m.org_id WHERE m.elevator_pk = %s "
            "ORDER BY m.effective_from", (elevator_pk,)).fetchall()


def property_history(conn: psycopg.Connection, *, elevator_pk: int) -> list[Row]:
    """Every property organization the elevator had, oldest first, with who recorded it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT p.org_id, o.name AS org_name, p.effective_from, "
            "lead(p.effective_from) OVER (ORDER BY p.effective_from) AS effective_to, "
            "p.recorded_at, p.recorded_by "
            "FROM elevator_property p JOIN orgs o ON o.id = p.org_id "
            "WHERE p.elevator_pk = %s ORDER BY p.effective_from", (elevator_pk,)).fetchall()


def handover(conn: psycopg.Connection, *, elevator_pk: int, property_org_id: int,
             effective_at: datetime | None, recorded_by: str) -> None:
    """Move the elevator to another property organization from effective_at (default now)."""
    _require_org(conn, "property_org_id", property_org_id, OrgKind.PROPERTY)
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        # Serialise handovers of one elevator so "latest" is well defined.
        cur.execute("SELECT pk FROM elevators WHERE pk = %s FOR UPDATE", (elevator_pk,))
        latest = cur.execute(
            "SELECT org_id, effective_from, %s::timestamptz IS NULL OR "
            "effective_from < %s::timestamptz FROM elevator_property WHERE elevator_pk = %s "
            "ORDER BY effective_from DESC LIMIT 1",
            (effective_at, effective_at, elevator_pk)).fetchone()
        if latest is not None:
            if latest[0] == property_org_id:
                raise Conflict(f"organization {property_org_id} is already the property "
                               "organization of this elevator")
            if not latest[2]:
                raise Conflict("effective_at must be later than the last handover "
                               f"({latest[1].isoformat()})")
        cur.execute(
            "INSERT INTO elevator_property (elevator_pk, effective_from, org_id, recorded_by) "
            "VALUES (%s, coalesce(%s, now()), %s, %s)",
            (elevator_pk, effective_at, property_org_id, recorded_by))
        outbox.notify(conn, outbox.REGISTRY_CHANNEL, {"elevator_pk": elevator_pk,
                                                      "change": "handover"})


def list_rejects(conn: psycopg.Connection, *, limit: int, offset: int,
                 reason: str | None = None, elevator_id: str | None = None) -> list[Row]:
    """Rejected messages, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, received_at, topic, elevator_id, reason, detail, payload, payload_size "
            "FROM ingest_rejects WHERE (%(reason)s::text IS NULL OR reason = %(reason)s) "
            "AND (%(eid)s::text IS NULL OR elevator_id = %(eid)s) "
            "ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {"reason": reason, "eid": elevator_id, "limit": limit, "offset": offset}
        ).fetchall()


def reject_counts(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """(reason, stored rejects) for the metrics page."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return [(r[0], r[1]) for r in cur.execute(
            "SELECT reason, count(*) FROM ingest_rejects GROUP BY reason").fetchall()]


# --- the residents' page (CONTRACT section 7) ------------------------------------------
def by_report_code(conn: psycopg.Connection, *, report_code: str) -> Row:
    """The elevator behind a sign's code, as the public may know it (name, site, rescue
    code, out of service or being repaired); NotFound for an unknown or replaced code."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT e.pk, e.site_id, e.name, s.name AS site_name, e.rescue_code, "
            "e.sealed_at IS NOT NULL AS sealed, "
            "coalesce(st.latest->>'mode' = 'out_of_service', false) AS mode_out_of_service, "
            "EXISTS (SELECT 1 FROM cases c WHERE c.elevator_pk = e.pk "
            "        AND c.state IN ('open', 'on_site')) AS being_repaired "
            "FROM elevators e JOIN sites s ON s.id = e.site_id "
            "LEFT JOIN elevator_state st ON st.elevator_pk = e.pk "
            "WHERE e.report_code = %s", (report_code,)).fetchone()
    if row is None:
        raise NotFound("no elevator has this code")
    return row


REPORT_CODE_LENGTH = 16
REPORT_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def replace_report_code(conn: psycopg.Connection, *, elevator_pk: int) -> str:
    """A new random report code for the elevator (the old one is gone from now on)."""
    while True:
        code = "".join(secrets.choice(REPORT_CODE_ALPHABET)
                       for _ in range(REPORT_CODE_LENGTH))
        try:
            with conn.transaction():
                conn.execute("UPDATE elevators SET report_code = %s WHERE pk = %s",
                             (code, elevator_pk))
            return code
        except psycopg.errors.UniqueViolation:  # 62^16 codes: never in practice
            continue
