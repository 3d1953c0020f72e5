"""What happens when an organization walks out, and when someone is appointed again
(CONTRACT section 5, "End of service"; section 6, responsibility gaps).

:func:`end_service` records the end at ``effective_at`` (now or later): from then its
credentials answer 401 (storage.access checks the end on every lookup) and it is no longer
the current property organization of its elevators (an ``elevator_property`` row with no
organization, effective at that time). :func:`apply_due` then does what must happen once
the time has come, and is called by the API right after an immediate end and by the rules
service every second, so a scheduled end takes effect on time without a restart: the
elevators it maintained lose their maintenance organization (kept in the history), and
every site left without a property organization and every elevator left without a
maintenance organization gets a ``responsibility_gap`` case; a gap whose cause is gone (a
site handed over, a maintenance contract given) is resolved by itself, saying who was
appointed. Case rows are written through the case-change seam (storage.cases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from core.cases import CaseKind, CaseLimits
from storage import outbox, registry
from storage.cases import changes as case_changes
from storage.cases import duty as case_duty
from storage.errors import Conflict, NotFound
from storage.scope import property_org_at

__all__ = ["apply_due", "end_service", "orgs_with_end", "settle_gaps", "settle_gaps_now"]

Row = dict[str, Any]
WHISTLE = "whistle"

# An organization that has ended (at a time passed).
ENDED = "(o.ended_at IS NOT NULL AND o.ended_at <= now())"


def orgs_with_end(conn: psycopg.Connection, *, kind: str | None = None) -> list[Row]:
    """Every organization (of a kind) with its end of service (``ended_at``, ``end_reason``,
    ``ended_by``; None if it has not ended, ``ended_at`` maybe ahead), by name."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, name, kind::text AS kind, district, created_at, ended_at, end_reason, "
            "ended_by, (ended_at IS NOT NULL AND ended_at <= now()) AS ended FROM orgs "
            "WHERE %(kind)s::text IS NULL OR kind::text = %(kind)s ORDER BY name, id",
            {"kind": kind}).fetchall()


def end_service(conn: psycopg.Connection, *, org_id: int, reason: str,
                effective_at: datetime, by: str) -> Row:
    """Record the end of an organization's service; Conflict if it already ended."""
    with conn.cursor(row_factory=dict_row) as cur:
        org = cur.execute("SELECT id, name, kind::text AS kind, ended_at FROM orgs "
                          "WHERE id = %s FOR UPDATE", (org_id,)).fetchone()
        if org is None:
            raise NotFound(f"organization {org_id} does not exist")
        if org["ended_at"] is not None:
            raise Conflict(f"the service of {org['name']} already ended at "
                           f"{org['ended_at'].isoformat()}")
        cur.execute("UPDATE orgs SET ended_at = %s, end_reason = %s, ended_by = %s, "
                    "end_applied = false WHERE id = %s", (effective_at, reason, by, org_id))
        # The elevators it is the property organization of at that time lose it then.
        left = cur.execute(
            "INSERT INTO elevator_property (elevator_pk, effective_from, org_id, recorded_by) "
            "SELECT e.pk, %(at)s, NULL, %(by)s FROM elevators e "
            f"WHERE {property_org_at('e.pk', '%(at)s')} = %(org)s "
            "ON CONFLICT (elevator_pk, effective_from) DO UPDATE SET org_id = NULL "
            "RETURNING elevator_pk", {"at": effective_at, "by": by, "org": org_id}).fetchall()
        maintained = cur.execute("SELECT count(*) AS n FROM elevators "
                                 "WHERE maintenance_org_id = %s", (org_id,)).fetchone()
    outbox.notify(conn, outbox.REGISTRY_CHANNEL, {"change": "end_service", "org_id": org_id})
    return {"org_id": org_id, "name": org["name"], "kind": org["kind"],
            "ended_at": effective_at, "reason": reason, "ended_by": by,
            "property_of": len(left), "maintained": int(maintained["n"]) if maintained else 0}


def apply_due(conn: psycopg.Connection, *, now: datetime,
              limits: dict[CaseKind, CaseLimits]) -> list[int]:
    """Apply every end of service whose time has come, then open and settle gap cases;
    the ids of the cases opened or resolved. One transaction."""
    touched: list[int] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        ended = cur.execute(
            "SELECT id, name, end_reason, ended_by, ended_at FROM orgs WHERE ended_at <= %s "
            "AND NOT end_applied ORDER BY ended_at, id FOR UPDATE SKIP LOCKED",
            (now,)).fetchall()
        for org in ended:
            gone = [int(r["pk"]) for r in cur.execute(
                "WITH gone AS (UPDATE elevators SET maintenance_org_id = NULL "
                "  WHERE maintenance_org_id = %(org)s RETURNING pk, site_id), "
                "history AS (INSERT INTO elevator_maintenance (elevator_pk, effective_from, "
                "  org_id, recorded_by, reason) SELECT pk, %(at)s, NULL, %(by)s, %(reason)s "
                "  FROM gone) SELECT pk FROM gone ORDER BY pk",
                {"org": org["id"], "at": org["ended_at"], "by": org["ended_by"],
                 "reason": f"end of service of {org['name']}: {org['end_reason']}"}
            ).fetchall()]
            # the sites whose elevators it left without a property organization
            sites = [int(r["site_id"]) for r in cur.execute(
                "SELECT DISTINCT e.site_id FROM elevator_property p JOIN elevators e "
                "ON e.pk = p.elevator_pk WHERE p.effective_from = %s AND p.org_id IS NULL "
                f"AND {property_org_at('e.pk')} IS NULL ORDER BY 1",
                (org["ended_at"],)).fetchall()]
            cur.execute("UPDATE orgs SET end_applied = true WHERE id = %s", (org["id"],))
            touched += _open_gaps(conn, org=org, sites=sites, elevators=gone, now=now,
                                  limits=limits[CaseKind.RESPONSIBILITY_GAP])
        touched += settle_gaps(conn, actor=WHISTLE, org_id=None)
    return touched


def _open_gaps(conn: psycopg.Connection, *, org: Row, sites: list[int],
               elevators: list[int], now: datetime, limits: CaseLimits) -> list[int]:
    why = f"the end of service of {org['name']} ({org['end_reason']})"
    opened: list[int] = []
    with conn.cursor(row_factory=tuple_row) as cur:
        site_of: dict[int, int] = dict(cur.execute(
            "SELECT pk, site_id FROM elevators WHERE pk = ANY(%s)", (elevators,)).fetchall())
    gaps: list[tuple[int, int | None, str]] = [(s, None, "property") for s in sites]
    gaps += [(int(site_of[pk]), pk, "maintenance") for pk in elevators]
    for site_id, pk, what in gaps:
        case_id, new = case_changes.open_responsibility_gap(
            conn, site_id=int(site_id), elevator_pk=pk, actor=WHISTLE, org_id=None,
            reason=f"no {what} organization since {why}", limits=limits, now=now)
        if new:
            opened.append(case_id)
    return opened


def settle_gaps(conn: psycopg.Connection, *, actor: str, org_id: int | None) -> list[int]:
    """Resolve every open gap case whose cause is gone (cause ``other``, saying who was
    appointed); their ids."""
    with conn.cursor(row_factory=dict_row) as cur:
        fixed = cur.execute(
            "SELECT c.id, c.elevator_pk, c.site_id, "
            "  (SELECT string_agg(DISTINCT o.name, ', ') FROM elevators e JOIN orgs o ON "
            f"   o.id = {property_org_at('e.pk')} WHERE e.site_id = c.site_id) AS property, "
            "  (SELECT o.name FROM elevators e JOIN orgs o ON o.id = e.maintenance_org_id "
            "   WHERE e.pk = c.elevator_pk) AS maintenance "
            "FROM cases c WHERE c.kind = 'responsibility_gap' AND c.state IN ('open', "
            "'on_site') AND CASE WHEN c.elevator_pk IS NULL THEN NOT EXISTS ("
            "  SELECT 1 FROM elevators e LEFT JOIN orgs o ON o.id = "
            f"  {property_org_at('e.pk')} WHERE e.site_id = c.site_id AND (o.id IS NULL "
            f"  OR {ENDED})) "
            "ELSE EXISTS (SELECT 1 FROM elevators e JOIN orgs o ON o.id = e.maintenance_org_id "
            f"  WHERE e.pk = c.elevator_pk AND NOT {ENDED}) END "
            "ORDER BY c.id FOR UPDATE OF c SKIP LOCKED").fetchall()
    for gap in fixed:
        who = (f"property organization appointed: {gap['property']}"
               if gap["elevator_pk"] is None
               else f"maintenance organization appointed: {gap['maintenance']}")
        case_duty.resolve(conn, case_id=gap["id"], actor=actor, org_id=org_id, cause="other",
                          note=who)
    return [int(g["id"]) for g in fixed]


def settle_gaps_now(conn: psycopg.Connection, *, actor: str, org_id: int | None
                    ) -> list[int]:
    """After a change of who is responsible: resolve the gaps it closed (one transaction)."""
    with conn.transaction():
        return settle_gaps(conn, actor=actor, org_id=org_id)


def hand_over_site(conn: psycopg.Connection, *, site_id: int, property_org_id: int,
                   effective_at: datetime | None, recorded_by: str) -> int:
    """Hand every elevator of a site to a property organization (each as
    registry.handover does; one that already has it is left); how many moved."""
    moved = 0
    with conn.transaction():
        with conn.cursor(row_factory=tuple_row) as cur:
            pks = [int(r[0]) for r in cur.execute(
                "SELECT pk FROM elevators WHERE site_id = %s ORDER BY pk FOR UPDATE",
                (site_id,)).fetchall()]
        for pk in pks:
            try:
                registry.handover(conn, elevator_pk=pk, property_org_id=property_org_id,
                                  effective_at=effective_at, recorded_by=recorded_by)
                moved += 1
            except Conflict:
                continue  # already with that organization
    return moved
