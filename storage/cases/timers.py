"""What time does to a case, written with its trail and publication (the case-change seam,
continued): climbing the chain, required parties marked late, deadlines passed (overdue),
and a resolved case closing itself after a week. The rules service's escalation job
drives these on its clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from core.cases import AUTO_CLOSE_S, CaseKind
from storage.cases.changes import WHISTLE, CaseChange, _call, _event, _org, _publish
from storage.cases.duty import close

__all__ = ["auto_close", "escalate", "flag_late", "flag_overdue", "remind_due", "unsilenced"]

Row = dict[str, Any]


def escalate(conn: psycopg.Connection, *, case_id: int, kind: str, level: int,
             now: datetime, details: dict[str, Any]) -> CaseChange:
    """The case climbed to ``level`` now: everyone up to it is called (its gathered alerts
    show the level when they are read; their own v1 climb goes on until someone reports
    for duty)."""
    conn.execute("UPDATE cases SET level = %s, escalated_at = %s, updated_at = %s "
                 "WHERE id = %s", (level, now, now, case_id))
    called = _call(conn, case_id=case_id, kind=CaseKind(kind), levels=set(range(level + 1)),
                   now=now)
    details = {**details, "called": [_org(o) for o in called]}
    _event(conn, case_id=case_id, action="escalated", actor=WHISTLE, at=now, details=details)
    return _publish(conn, case_id=case_id, change="escalated", actor=WHISTLE, details=details)


def flag_late(conn: psycopg.Connection, *, now: datetime) -> list[CaseChange]:
    """Required parties of active cases that did not report for duty by ``accept_by``."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "UPDATE case_parties p SET late = true FROM cases c, orgs o "
            "WHERE c.id = p.case_id AND o.id = p.org_id AND p.required AND NOT p.late "
            "AND p.on_duty_at IS NULL AND c.accept_by <= %s "
            "AND c.state IN ('open', 'on_site') "
            "RETURNING p.case_id, p.org_id, o.name", (now,)).fetchall()
    by_case: dict[int, list[Row]] = {}
    for case_id, org_id, name in rows:
        by_case.setdefault(int(case_id), []).append({"id": org_id, "name": name})
    out = []
    for case_id, orgs in sorted(by_case.items()):
        conn.execute("UPDATE cases SET updated_at = %s WHERE id = %s", (now, case_id))
        _event(conn, case_id=case_id, action="late", actor=WHISTLE, at=now,
               details={"orgs": orgs})
        out.append(_publish(conn, case_id=case_id, change="late", actor=WHISTLE,
                            details={"orgs": orgs}))
    return out


def flag_overdue(conn: psycopg.Connection, *, now: datetime) -> list[tuple[int, str]]:
    """Active cases whose arrival or resolution deadline passed: overdue from now;
    (case id, kind) of each, for the caller to climb at once."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "UPDATE cases c SET overdue = true, updated_at = %(now)s "
            "WHERE c.state IN ('open', 'on_site') AND NOT c.overdue "
            "AND ((c.arrived_at IS NULL AND c.arrive_by <= %(now)s) "
            "     OR c.resolve_by <= %(now)s) "
            "RETURNING c.id, c.kind, CASE WHEN c.arrived_at IS NULL AND c.arrive_by <= "
            "%(now)s THEN 'arrive_by' ELSE 'resolve_by' END, c.arrive_by, c.resolve_by",
            {"now": now}).fetchall()
    out = []
    for case_id, kind, missed, arrive_by, resolve_by in sorted(rows):
        deadline = arrive_by if missed == "arrive_by" else resolve_by
        details = {"missed": missed, "deadline": deadline.isoformat()}
        _event(conn, case_id=case_id, action="overdue", actor=WHISTLE, at=now, details=details)
        _publish(conn, case_id=case_id, change="overdue", actor=WHISTLE, details=details)
        out.append((int(case_id), str(kind)))
    return out


def remind_due(conn: psycopg.Connection, *, now: datetime,
               remind_s: dict[str, float | None]) -> list[CaseChange]:
    """Parties called on an active case that have not reported for duty, and that the case
    has not climbed past (its level is not above theirs), are reminded every ``remind_s``
    of the case's kind (from the call, then from the last reminder): ``reminder`` changes
    naming them, for the notifier to reach their people again."""
    kinds = [(k, float(v)) for k, v in remind_s.items() if v]
    if not kinds:
        return []
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "UPDATE case_parties p SET reminded_at = %(now)s, reminders = p.reminders + 1 "
            "FROM cases c, orgs o, unnest(%(kinds)s::text[], %(secs)s::float8[]) r(kind, secs) "
            "WHERE c.id = p.case_id AND o.id = p.org_id AND r.kind = c.kind::text "
            "AND c.state IN ('open', 'on_site') AND p.called_at IS NOT NULL "
            "AND p.on_duty_at IS NULL AND (p.level IS NULL OR c.level <= p.level) "
            "AND (o.ended_at IS NULL OR o.ended_at > %(now)s) "
            "AND coalesce(p.reminded_at, p.called_at) + make_interval(secs => r.secs) "
            "    <= %(now)s "
            "RETURNING p.case_id, p.org_id, o.name, p.reminders",
            {"now": now, "kinds": [k for k, _ in kinds],
             "secs": [v for _, v in kinds]}).fetchall()
    by_case: dict[int, list[Row]] = {}
    for case_id, org_id, name, n in rows:
        by_case.setdefault(int(case_id), []).append({"id": org_id, "name": name,
                                                     "reminder": n})
    out = []
    for case_id, orgs in sorted(by_case.items()):
        details = {"orgs": orgs, "org_ids": [o["id"] for o in orgs]}
        _event(conn, case_id=case_id, action="reminded", actor=WHISTLE, at=now,
               details=details)
        out.append(_publish(conn, case_id=case_id, change="reminder", actor=WHISTLE,
                            details=details))
    return out


def unsilenced(conn: psycopg.Connection, *, alert_ids: list[int], silence_id: int,
               now: datetime) -> list[CaseChange]:
    """A silence is over: the active cases gathering those alerts are told again (their
    notifications were held)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        ids = [int(r[0]) for r in cur.execute(
            "SELECT DISTINCT c.id FROM cases c JOIN case_alerts ca ON ca.case_id = c.id "
            "WHERE ca.alert_id = ANY(%s) AND c.state IN ('open', 'on_site') ORDER BY c.id",
            (alert_ids,)).fetchall()]
    out = []
    for case_id in ids:
        details = {"silence_id": silence_id}
        _event(conn, case_id=case_id, action="unsilenced", actor=WHISTLE, at=now,
               details=details)
        out.append(_publish(conn, case_id=case_id, change="unsilenced", actor=WHISTLE,
                            details=details))
    return out


def auto_close(conn: psycopg.Connection, *, now: datetime) -> list[CaseChange]:
    """Resolved cases nobody confirmed or reopened within a week close themselves."""
    with conn.cursor(row_factory=tuple_row) as cur:
        ids = [int(r[0]) for r in cur.execute(
            "SELECT id FROM cases WHERE state = 'resolved' AND resolved_at <= %s "
            "ORDER BY id FOR UPDATE SKIP LOCKED",
            (now - timedelta(seconds=AUTO_CLOSE_S),)).fetchall()]
    return [close(conn, case_id=i, actor=WHISTLE, org_id=None,
                  note="closed by itself 7 days after it was resolved") for i in ids]
