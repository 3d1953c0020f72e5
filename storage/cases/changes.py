"""The only code that changes a case.

Every function writes, in the caller's transaction, the case row (and its parties,
gathered alerts or reports), its audit entry in ``case_events`` and its ``case_outbox``
row (the case object as it is after the change, announced with NOTIFY on the cases
channel). The rules engine (a case for an alert), the escalation job (climbs, lateness,
deadlines, closing after a week), the API (organizations and residents) and the
end-of-service flow (responsibility gaps) all come through here. The state machine itself
is :func:`core.cases.check`; callers ask it before they change anything. Nothing else in
Whistle writes the case tables (``tests/test_architecture.py`` checks the source for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from core.cases import REQUIRED, CaseKind, CaseLimits
from core.chain import Level
from storage import outbox
from storage.cases.queries import CASE_COLUMNS, CASE_FROM, chain

__all__ = ["CASES_CHANNEL", "WHISTLE", "CaseChange", "add_alert", "add_report", "claim_outbox",
           "end_of_day", "notified", "open_case", "open_responsibility_gap", "report"]

Row = dict[str, Any]
WHISTLE = "whistle"
CASES_CHANNEL = "whistle_cases"


@dataclass(frozen=True, slots=True)
class CaseChange:
    """What a change did: which case, and the change ('opened', 'on_duty', ...)."""

    case_id: int
    change: str


# --- the trail and the publication -----------------------------------------------------
def _event(conn: psycopg.Connection, *, case_id: int, action: str, actor: str,
           org_id: int | None = None, details: dict[str, Any] | None = None,
           at: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO case_events (case_id, at, action, actor, org_id, details) "
        "VALUES (%s, coalesce(%s, now()), %s, %s, %s, %s)",
        (case_id, at, action, actor, org_id, Jsonb(details or {})))


def _publish(conn: psycopg.Connection, *, case_id: int, change: str, actor: str,
             details: dict[str, Any] | None = None) -> CaseChange:
    """Queue the case object as it is now (without contacts) and announce it."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            'INSERT INTO case_outbox (case_id, change, actor, details, "case") '
            "SELECT x.id, %(change)s, %(actor)s, %(details)s, to_jsonb(x) - 'contact' || "
            "  jsonb_build_object('reports', (SELECT coalesce(jsonb_agg(r - 'contact'), "
            "  '[]') FROM jsonb_array_elements(to_jsonb(x) -> 'reports') r)) "
            f"FROM (SELECT {CASE_COLUMNS} {CASE_FROM} WHERE c.id = %(id)s) x RETURNING id",
            {"id": case_id, "change": change, "actor": actor,
             "details": Jsonb(details or {})}).fetchone()
    assert row is not None, f"case {case_id} vanished"
    outbox.notify(conn, CASES_CHANNEL, {"outbox_id": row[0], "case_id": case_id,
                                        "change": change})
    return CaseChange(case_id, change)


def _touch(conn: psycopg.Connection, case_id: int, sets: str = "",
           params: dict[str, Any] | None = None) -> None:
    """Update the case row (``sets``) and its ``updated_at``."""
    conn.execute(f"UPDATE cases SET {sets + ', ' if sets else ''}updated_at = now() "
                 "WHERE id = %(id)s", {**(params or {}), "id": case_id})


def _call(conn: psycopg.Connection, *, case_id: int, kind: CaseKind, levels: set[int],
          now: datetime) -> list[Row]:
    """Add (or mark called) the organizations of the chain at ``levels`` and the required
    ones; the organizations newly called."""
    required = {k.value for k in REQUIRED[kind]}
    called: list[Row] = []
    orgs = chain(conn, case_ids=[case_id])[case_id]
    present = sorted({int(o["level"]) for o in orgs})
    if present and not levels & set(present):
        # nobody answers at those levels (an organization left): the next level up, at once
        above = [lv for lv in present if lv > max(levels)]
        levels = levels | set(above[:1])
    for org in orgs:
        is_required = org["kind"] in required
        if org["level"] not in levels and not is_required:
            continue
        with conn.cursor(row_factory=tuple_row) as cur:
            new = cur.execute(
                "INSERT INTO case_parties AS p (case_id, org_id, kind, required, level, "
                "called_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (case_id, org_id) "
                "DO UPDATE SET called_at = coalesce(p.called_at, EXCLUDED.called_at), "
                "  required = p.required OR EXCLUDED.required, "
                "  level = coalesce(p.level, EXCLUDED.level) "
                "WHERE p.called_at IS NULL RETURNING org_id",
                (case_id, org["id"], org["kind"], is_required, org["level"], now)).fetchone()
        if new is not None:
            called.append(org)
    return called


def _deadline(now: datetime, seconds: float | None) -> datetime | None:
    return None if seconds is None else now + timedelta(seconds=seconds)


def end_of_day(day: date, tz: str) -> datetime:
    """The end of a calendar day in the service's time zone (a rectify_by date)."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(tz))


# --- opening ---------------------------------------------------------------------------
def open_case(conn: psycopg.Connection, *, kind: CaseKind, site_id: int,
              elevator_pk: int | None, source: str, severity: str, description: str,
              actor: str, org_id: int | None, limits: CaseLimits, now: datetime,
              contact: str | None = None, trapped_count: int | None = None,
              hazards: list[str] | None = None, resolve_by: datetime | None = None,
              rectify_by: date | None = None, alert_id: int | None = None
              ) -> tuple[int, bool]:
    """Open a case, or find the open one of that kind (elevator or site): (id, opened).

    The one-open-case unique indexes settle races between writers. A new case calls its
    required parties and the chain's first two levels, as a new alert does; the alert that
    opens it (``alert_id``) is gathered before the case is first published, so the
    ``opened`` message names it."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO cases (kind, site_id, elevator_pk, source, severity, description, "
            "opened_at, opened_by, updated_at, accept_by, arrive_by, resolve_by, contact, "
            "trapped_count, hazards, rectify_by) VALUES (%(kind)s, %(site)s, %(pk)s, "
            "%(source)s, %(sev)s, %(desc)s, %(now)s, %(actor)s, %(now)s, %(accept)s, "
            "%(arrive)s, %(resolve)s, %(contact)s, %(trapped)s, %(hazards)s, %(rectify)s) "
            "ON CONFLICT DO NOTHING RETURNING id",
            {"kind": kind.value, "site": site_id, "pk": elevator_pk, "source": source,
             "sev": severity, "desc": description, "now": now, "actor": actor,
             "accept": _deadline(now, limits.accept_s),
             "arrive": _deadline(now, limits.arrive_s),
             "resolve": resolve_by or _deadline(now, limits.resolve_s), "contact": contact,
             "trapped": trapped_count, "hazards": hazards or [],
             "rectify": rectify_by}).fetchone()
        if row is None:
            found = cur.execute(
                "SELECT id FROM cases WHERE kind = %s AND state IN ('open', 'on_site') AND "
                + ("elevator_pk = %s" if elevator_pk is not None
                   else "site_id = %s AND elevator_pk IS NULL") + " FOR UPDATE",
                (kind.value, elevator_pk if elevator_pk is not None else site_id)).fetchone()
            assert found is not None, "an open case vanished under the unique index"
            if org_id is not None:  # whoever called it in is a party, whoever came first
                _join(conn, case_id=int(found[0]), org_id=org_id, now=now)
            return int(found[0]), False
    case_id = int(row[0])
    called = _call(conn, case_id=case_id, kind=kind,
                   levels={Level.PROPERTY, Level.MAINTENANCE}, now=now)
    if org_id is not None:  # whoever opened it (a rescue organization taking a call) is a party
        _join(conn, case_id=case_id, org_id=org_id, now=now)
    _event(conn, case_id=case_id, action="opened", actor=actor, org_id=org_id, at=now,
           details={"source": source, "description": description,
                    "called": [_org(o) for o in called],
                    **({"hazards": hazards} if hazards else {})})
    if alert_id is not None:
        conn.execute("INSERT INTO case_alerts (alert_id, case_id, added_at) "
                     "VALUES (%s, %s, %s)", (alert_id, case_id, now))
        _event(conn, case_id=case_id, action="alert_added", actor=WHISTLE, at=now,
               details={"alert_id": alert_id, "severity": severity})
    _publish(conn, case_id=case_id, change="opened", actor=actor,
             details={"called": [_org(o) for o in called],
                      **({"alert_id": alert_id} if alert_id is not None else {})})
    return case_id, True


def _join(conn: psycopg.Connection, *, case_id: int, org_id: int, now: datetime) -> None:
    """The organization that opened or called in a case is a party (called from then)."""
    conn.execute("INSERT INTO case_parties AS p (case_id, org_id, kind, required, called_at) "
                 "SELECT %s, o.id, o.kind, false, %s FROM orgs o WHERE o.id = %s "
                 "ON CONFLICT (case_id, org_id) DO UPDATE SET "
                 "called_at = coalesce(p.called_at, EXCLUDED.called_at)",
                 (case_id, now, org_id))


def _org(o: Row) -> Row:
    return {"id": o["id"], "name": o["name"], "kind": o["kind"], "level": o["level"]}


def add_alert(conn: psycopg.Connection, *, case_id: int, alert_id: int, severity: str,
              now: datetime) -> CaseChange | None:
    """Gather an alert into a case (None if it already was); a fault case takes the
    worst severity of its alerts."""
    with conn.cursor(row_factory=tuple_row) as cur:
        if cur.execute("INSERT INTO case_alerts (alert_id, case_id, added_at) "
                       "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING alert_id",
                       (alert_id, case_id, now)).fetchone() is None:
            return None
    conn.execute(
        "UPDATE cases SET updated_at = %(now)s, severity = CASE WHEN array_position("
        "ARRAY['critical','major','minor','warning'], %(sev)s) < array_position("
        "ARRAY['critical','major','minor','warning'], severity) THEN %(sev)s ELSE severity END "
        "WHERE id = %(id)s", {"now": now, "sev": severity, "id": case_id})
    _event(conn, case_id=case_id, action="alert_added", actor=WHISTLE, at=now,
           details={"alert_id": alert_id, "severity": severity})
    return _publish(conn, case_id=case_id, change="alert_added", actor=WHISTLE,
                    details={"alert_id": alert_id})


def add_report(conn: psycopg.Connection, *, case_id: int, category: str, description: str,
               contact: str | None, opened: bool) -> str:
    """Record a resident's report on its case; its reference (the only key to it)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO case_reports (case_id, category, description, contact) "
            "VALUES (%s, %s, %s, %s) RETURNING id, reference, "
            "(SELECT count(*) FROM case_reports WHERE case_id = %s) + 1",
            (case_id, category, description, contact, case_id)).fetchone()
    assert row is not None
    _touch(conn, case_id, "description = CASE WHEN description = '' THEN %(d)s "
           "ELSE description END", {"d": description})
    _event(conn, case_id=case_id, action="reported", actor="resident",
           details={"report_id": row[0], "category": category, "count": int(row[2]),
                    "opened": opened})
    _publish(conn, case_id=case_id, change="reported", actor="resident",
             details={"report_id": row[0], "count": int(row[2])})
    return str(row[1])


def report(conn: psycopg.Connection, *, elevator_pk: int, site_id: int, kind: CaseKind,
           category: str, description: str, contact: str | None, limits: CaseLimits,
           severity: str, now: datetime) -> tuple[int, str, bool]:
    """A resident's report: joins the elevator's open case of its kind or opens one
    (source ``report``); (case id, reference, opened)."""
    case_id, opened = open_case(conn, kind=kind, site_id=site_id, elevator_pk=elevator_pk,
                                source="report", severity=severity, description=description,
                                actor="resident", org_id=None, limits=limits, now=now)
    reference = add_report(conn, case_id=case_id, category=category,
                           description=description, contact=contact, opened=opened)
    return case_id, reference, opened


def open_responsibility_gap(conn: psycopg.Connection, *, site_id: int,
                            elevator_pk: int | None, reason: str, actor: str,
                            org_id: int | None, limits: CaseLimits, now: datetime
                            ) -> tuple[int, bool]:
    """A site left without a property organization (``elevator_pk`` None) or an elevator
    left without a maintenance organization: the street office and the community must
    report for duty (the end-of-service flow calls this)."""
    return open_case(conn, kind=CaseKind.RESPONSIBILITY_GAP, site_id=site_id,
                     elevator_pk=elevator_pk, source="responsibility", severity="minor",
                     description=reason, actor=actor, org_id=org_id, limits=limits, now=now)


def claim_outbox(conn: psycopg.Connection, *, limit: int) -> list[Row]:
    """Take the oldest unpublished case changes (deleted when the caller commits)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "DELETE FROM case_outbox WHERE id IN (SELECT id FROM case_outbox ORDER BY id "
            "LIMIT %s FOR UPDATE SKIP LOCKED) "
            'RETURNING id, case_id, change, actor, details, "case", created_at',
            (limit,)).fetchall()


def notified(conn: psycopg.Connection, *, case_ids: list[int], org_id: int | None,
             details: dict[str, Any], at: datetime | None = None) -> None:
    """Record on each case's trail that an organization was told (no publication)."""
    conn.execute(
        "INSERT INTO case_events (case_id, at, action, actor, org_id, details) "
        "SELECT c.id, coalesce(%s, now()), 'notified', %s, %s, %s FROM cases c "
        "WHERE c.id = ANY(%s)", (at, WHISTLE, org_id, Jsonb(details), case_ids))


def gather_alert(conn: psycopg.Connection, *, alert_id: int, alert_kind: str,
                 elevator_pk: int, kind: CaseKind, severity: str, limits: CaseLimits,
                 now: datetime) -> tuple[int, bool]:
    """A new alert opens the elevator's case of ``kind`` or joins the open one (source
    ``alert``); (case id, opened)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT site_id FROM elevators WHERE pk = %s",
                          (elevator_pk,)).fetchone()
    assert row is not None, f"elevator {elevator_pk} vanished"
    case_id, opened = open_case(conn, kind=kind, site_id=int(row[0]), elevator_pk=elevator_pk,
                                source="alert", severity=severity, description=alert_kind,
                                actor=WHISTLE, org_id=None, limits=limits, now=now,
                                alert_id=alert_id)
    if not opened:
        add_alert(conn, case_id=case_id, alert_id=alert_id, severity=severity, now=now)
    return case_id, opened
