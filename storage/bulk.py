"""Bulk import of the registry: organizations, sites and elevators of a whole city at once.

The rows come parsed and checked one by one (``api.imports``); here they are checked
against each other and against the database (names, ids and codes already taken,
references to organizations and sites of the file or of the database), then written in one
transaction with bulk SQL (``unnest`` for organizations and sites, ``COPY`` for elevators)
and announced with *one* registry notification, ``{"change": "bulk"}``, which makes every
ingester and rules process reload its registry once instead of once per elevator.

Existing rows are never updated: an organization, site, elevator id, registration code or
rescue code that already exists is a problem of the row that repeats it, like a repeat
within the file. A row refers to an organization or a site of the database by its name
(and a site also by ``site_id``), so a file may add elevators to an existing site.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from core.domain import OrgKind
from storage import outbox
from storage.errors import Conflict

COPY_CHUNK = 1000  # elevators per progress step
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Problem:
    """What is wrong with one row of the file: its line (1 = the first line), the field."""

    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The shape of the API's 422 errors."""
        return {"line": self.line, "field": self.field, "message": self.message}


class Refused(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the file")
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))


@dataclass
class OrgIn:
    """An organization row."""

    line: int
    name: str
    kind: OrgKind
    district: str | None


@dataclass
class SiteIn:
    """A site row; its property organization by name (file or database) or by id."""

    line: int
    name: str
    address: str
    district: str
    property_org: str | None = None
    property_org_id: int | None = None


@dataclass
class ElevatorIn:
    """An elevator row: its site by name (and address, when names repeat) or by id; its
    maintenance organization by name or id."""

    line: int
    id: str
    name: str
    rated_speed_mps: float
    rated_load_kg: float
    min_floor: int
    max_floor: int
    travel_m: float
    landings_m: list[float]
    site: str | None = None
    site_address: str | None = None
    site_id: int | None = None
    model: str | None = None
    maintenance_org: str | None = None
    maintenance_org_id: int | None = None
    next_inspection_due: date | None = None
    registration_code: str | None = None
    rescue_code: str | None = None


@dataclass
class Plan:
    """A file's rows, once parsed, and the problems found parsing them."""

    orgs: list[OrgIn] = field(default_factory=list)
    sites: list[SiteIn] = field(default_factory=list)
    elevators: list[ElevatorIn] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Imported:
    """What an import wrote."""

    orgs: int
    sites: int
    elevators: int

    def as_dict(self) -> dict[str, int]:
        """The body of the API's answer."""
        return {"orgs": self.orgs, "sites": self.sites, "elevators": self.elevators}


def _repeats(values: Iterable[tuple[Any, int]], what: str, fld: str) -> list[Problem]:
    """A problem for every row repeating a value of an earlier row of the file."""
    first: dict[Any, int] = {}
    out = []
    for value, line in values:
        if value in first:
            out.append(Problem(line, fld, f"{what} repeats line {first[value]}"))
        else:
            first[value] = line
    return out


class _Resolver:
    """The organizations and sites a file may refer to: its own, then the database's."""

    def __init__(self, conn: psycopg.Connection, plan: Plan) -> None:
        names = {o.name for o in plan.orgs} | {s.property_org for s in plan.sites
                                               if s.property_org} \
            | {e.maintenance_org for e in plan.elevators if e.maintenance_org}
        ids = {s.property_org_id for s in plan.sites if s.property_org_id is not None} | {
            e.maintenance_org_id for e in plan.elevators if e.maintenance_org_id is not None}
        with conn.cursor(row_factory=tuple_row) as cur:
            rows = cur.execute("SELECT id, name, kind::text FROM orgs WHERE name = ANY(%s) "
                               "OR id = ANY(%s)", (sorted(names), sorted(ids))).fetchall()
            self.db_orgs_by_name = {r[1]: (r[0], r[2]) for r in rows}
            self.db_orgs_by_id = {r[0]: r[2] for r in rows}
            site_names = sorted({e.site for e in plan.elevators if e.site}
                                | {s.name for s in plan.sites})
            site_ids = sorted({e.site_id for e in plan.elevators if e.site_id is not None})
            sites = cur.execute(
                "SELECT id, name, address, district FROM sites WHERE name = ANY(%s) "
                "OR id = ANY(%s)", (site_names, site_ids)).fetchall()
        self.db_sites_by_id = {r[0]: r[3] for r in sites}
        self.db_sites: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for sid, name, address, district in sites:
            self.db_sites[name].append((sid, address, district))
        self.file_orgs = {o.name: o.kind.value for o in plan.orgs}
        self.file_sites: dict[str, list[SiteIn]] = defaultdict(list)
        for s in plan.sites:
            self.file_sites[s.name].append(s)

    def org(self, line: int, fld: str, name: str | None, org_id: int | None, kind: OrgKind
            ) -> Problem | None:
        """A problem if the organization named (or numbered) is missing or of another kind."""
        if name is not None:
            found = self.file_orgs.get(name) or (self.db_orgs_by_name.get(name) or (0, None))[1]
            what = f"organization {name!r}"
        elif org_id is not None:
            found, what = self.db_orgs_by_id.get(org_id), f"organization {org_id}"
        else:
            return None
        if found is None:
            return Problem(line, fld, f"{what} is neither in the file nor registered")
        if found != kind.value:
            return Problem(line, fld, f"{what} is a {found} organization, not {kind.value}")
        return None

    def site(self, e: ElevatorIn) -> tuple[str | None, Problem | None]:
        """The district of the elevator's site, or the problem finding the site."""
        if e.site_id is not None:
            district = self.db_sites_by_id.get(e.site_id)
            if district is None:
                return None, Problem(e.line, "site_id", f"site {e.site_id} does not exist")
            return district, None
        assert e.site is not None
        mine = [(s.address, s.district) for s in self.file_sites.get(e.site, [])] + [
            (a, d) for _, a, d in self.db_sites.get(e.site, [])]
        if e.site_address is not None:
            mine = [m for m in mine if m[0] == e.site_address]
        if not mine:
            return None, Problem(e.line, "site", f"site {e.site!r} is neither in the file "
                                                 "nor registered")
        if len(mine) > 1:
            return None, Problem(e.line, "site_address", f"{len(mine)} sites are named "
                                 f"{e.site!r}: give site_address")
        return mine[0][1], None


def check(conn: psycopg.Connection, plan: Plan) -> list[Problem]:
    """Every problem of the rows among themselves and against the database."""
    problems = _repeats(((o.name, o.line) for o in plan.orgs), "this organization name",
                        "name")
    problems += _repeats((((s.name, s.address), s.line) for s in plan.sites),
                         "this site (name and address)", "address")
    problems += _repeats(((e.id, e.line) for e in plan.elevators), "this elevator id", "id")
    problems += _repeats(((e.registration_code, e.line) for e in plan.elevators
                          if e.registration_code), "this registration_code",
                         "registration_code")
    with conn.cursor(row_factory=tuple_row) as cur:
        taken_orgs = {r[0] for r in cur.execute(
            "SELECT name FROM orgs WHERE name = ANY(%s)",
            ([o.name for o in plan.orgs],)).fetchall()}
        taken_sites = set(cur.execute(
            "SELECT name, address FROM sites WHERE (name, address) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([s.name for s in plan.sites], [s.address for s in plan.sites])).fetchall())
        taken_ids = {r[0] for r in cur.execute(
            "SELECT id FROM elevators WHERE id = ANY(%s)",
            ([e.id for e in plan.elevators],)).fetchall()}
        taken_codes = {r[0] for r in cur.execute(
            "SELECT registration_code FROM elevators WHERE registration_code = ANY(%s)",
            ([e.registration_code for e in plan.elevators if e.registration_code],)
        ).fetchall()}
        taken_rescue = set(cur.execute(
            "SELECT rescue_district, rescue_code FROM elevators WHERE rescue_code = ANY(%s)",
            ([e.rescue_code for e in plan.elevators if e.rescue_code],)).fetchall())
    for o in plan.orgs:
        if o.name in taken_orgs:
            problems.append(Problem(o.line, "name", f"an organization named {o.name!r} "
                                    "already exists (refer to it by name, without a row)"))
    resolver = _Resolver(conn, plan)
    for s in plan.sites:
        if (s.name, s.address) in taken_sites:
            problems.append(Problem(s.line, "address", f"a site named {s.name!r} at "
                                    f"{s.address!r} already exists"))
        fld = "property_org" if s.property_org is not None else "property_org_id"
        found = resolver.org(s.line, fld, s.property_org, s.property_org_id, OrgKind.PROPERTY)
        problems += [found] if found else []
    rescue: list[tuple[tuple[str, str], int]] = []
    for e in plan.elevators:
        if e.id in taken_ids:
            problems.append(Problem(e.line, "id", f"elevator {e.id!r} is already registered"))
        if e.registration_code in taken_codes:
            problems.append(Problem(e.line, "registration_code", f"registration_code "
                                    f"{e.registration_code!r} is already registered"))
        fld = "maintenance_org" if e.maintenance_org is not None else "maintenance_org_id"
        found = resolver.org(e.line, fld, e.maintenance_org, e.maintenance_org_id,
                             OrgKind.MAINTENANCE)
        district, missing = resolver.site(e)
        problems += [p for p in (found, missing) if p]
        if district is not None and e.rescue_code:
            if (district, e.rescue_code) in taken_rescue:
                problems.append(Problem(e.line, "rescue_code", f"rescue_code {e.rescue_code!r}"
                                        f" is already used in district {district!r}"))
            rescue.append(((district, e.rescue_code), e.line))
    problems += _repeats(rescue, "this rescue_code in the same district", "rescue_code")
    return problems


def import_registry(conn: psycopg.Connection, plan: Plan, *, recorded_by: str,
                    progress: Progress | None = None) -> Imported:
    """Check the whole plan, then write it in one transaction (Refused, and nothing written,
    if any row has a problem; Conflict if a concurrent writer took a name first)."""
    tell = progress or (lambda _stage, _done, _total: None)
    n = len(plan.elevators)
    try:
        with conn.transaction():
            tell("checking", 0, n)
            problems = plan.problems + check(conn, plan)
            if problems:
                raise Refused(problems)
            tell("checking", n, n)
            org_ids = _write_orgs(conn, plan.orgs)
            site_ids = _write_sites(conn, plan.sites, org_ids)
            _write_elevators(conn, plan.elevators, site_ids, org_ids, recorded_by, tell)
            outbox.notify(conn, outbox.REGISTRY_CHANNEL,
                          {"change": "bulk", "elevators": n, "sites": len(plan.sites)})
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("a concurrent change registered a name, id or code of this file "
                       f"first ({exc.diag.constraint_name}); nothing was written") from None
    return Imported(len(plan.orgs), len(plan.sites), n)


def _write_orgs(conn: psycopg.Connection, orgs: list[OrgIn]) -> dict[str, int]:
    """Insert the organizations; their ids by name (those of the file and the database)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        if orgs:
            cur.execute(
                "INSERT INTO orgs (name, kind, district) SELECT * FROM "
                "unnest(%s::text[], %s::org_kind[], %s::text[])",
                ([o.name for o in orgs], [o.kind.value for o in orgs],
                 [o.district for o in orgs]))
        return dict(cur.execute("SELECT name, id FROM orgs").fetchall())


def _write_sites(conn: psycopg.Connection, sites: list[SiteIn], org_ids: dict[str, int]
                 ) -> dict[tuple[str, str | None], tuple[int, int, str]]:
    """Insert the sites; (id, property org id, district) by (name, address) and (name, None)
    for every site the elevators of the file may name."""
    with conn.cursor(row_factory=tuple_row) as cur:
        if sites:
            cur.execute(
                "INSERT INTO sites (name, address, district, property_org_id) SELECT * FROM "
                "unnest(%s::text[], %s::text[], %s::text[], %s::int[])",
                ([s.name for s in sites], [s.address for s in sites],
                 [s.district for s in sites],
                 [org_ids[s.property_org] if s.property_org else s.property_org_id
                  for s in sites]))
        rows = cur.execute("SELECT id, name, address, property_org_id, district FROM sites"
                           ).fetchall()
    out: dict[tuple[str, str | None], tuple[int, int, str]] = {}
    named = Counter(r[1] for r in rows)
    for sid, name, address, org, district in rows:
        out[(name, address)] = (sid, org, district)
        out[(str(sid), "#")] = (sid, org, district)
        if named[name] == 1:
            out[(name, None)] = (sid, org, district)
    return out


COPY_ELEVATORS = (
    "COPY elevators (id, site_id, name, rated_speed_mps, rated_load_kg, min_floor, max_floor, "
    "travel_m, landings_m, model, maintenance_org_id, next_inspection_due, registration_code, "
    "rescue_code, rescue_district) FROM STDIN")


def _write_elevators(conn: psycopg.Connection, elevators: list[ElevatorIn],
                     sites: dict[tuple[str, str | None], tuple[int, int, str]],
                     org_ids: dict[str, int], recorded_by: str, tell: Progress) -> None:
    """COPY the elevators, then their first property and maintenance records in two
    statements."""
    if not elevators:
        return
    n = len(elevators)
    with conn.cursor(row_factory=tuple_row) as cur:
        with cur.copy(COPY_ELEVATORS) as copy:
            for i, e in enumerate(elevators, 1):
                key = (str(e.site_id), "#") if e.site_id is not None \
                    else (e.site or "", e.site_address)
                site_id, _, district = sites[key]
                maintenance = org_ids[e.maintenance_org] if e.maintenance_org \
                    else e.maintenance_org_id
                copy.write_row((
                    e.id, site_id, e.name, e.rated_speed_mps, e.rated_load_kg, e.min_floor,
                    e.max_floor, e.travel_m, e.landings_m, e.model, maintenance,
                    e.next_inspection_due, e.registration_code, e.rescue_code,
                    district if e.rescue_code else None))
                if i % COPY_CHUNK == 0 or i == n:
                    tell("writing", i, n)
        ids = [e.id for e in elevators]
        cur.execute(
            "INSERT INTO elevator_property (elevator_pk, effective_from, org_id, recorded_by) "
            "SELECT e.pk, now(), s.property_org_id, %s FROM elevators e "
            "JOIN sites s ON s.id = e.site_id WHERE e.id = ANY(%s)", (recorded_by, ids))
        cur.execute(
            "INSERT INTO elevator_maintenance (elevator_pk, org_id, recorded_by) "
            "SELECT pk, maintenance_org_id, %s FROM elevators "
            "WHERE id = ANY(%s) AND maintenance_org_id IS NOT NULL", (recorded_by, ids))
