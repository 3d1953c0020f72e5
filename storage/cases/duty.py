"""What people do to a case, written with its trail and publication (the case-change seam,
continued from :mod:`storage.cases.changes`): report for duty ("报到"), arrive, record
the rescue, resolve with a cause, close, cancel, add a note, and the reporter's feedback.

Callers lock the case with :func:`lock` and ask :func:`core.cases.check` first; these
functions then make the change. Reporting for duty, arriving and resolving carry over to
the alerts the case gathered, through the alert-change seam, so a v1 client sees its
alerts acknowledged, arrived at and resolved as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from core.cases import CaseLimits
from storage.alerts import changes as alert_changes
from storage.cases.changes import CaseChange, _event, _publish, _touch
from storage.errors import Conflict, NotFound

__all__ = ["arrive", "cancel", "close", "duty", "feedback", "lock", "lock_reference",
           "note", "rescued", "resolve"]

Row = dict[str, Any]


def lock(conn: psycopg.Connection, *, case_id: int) -> Row:
    """The case row, locked until the caller's transaction ends; NotFound."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM cases WHERE id = %s FOR UPDATE",
                          (case_id,)).fetchone()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    return row


def lock_reference(conn: psycopg.Connection, *, reference: str) -> tuple[Row, Row]:
    """(the report, its case locked) for a resident's reference; NotFound."""
    with conn.cursor(row_factory=dict_row) as cur:
        report = cur.execute("SELECT * FROM case_reports WHERE reference = %s FOR UPDATE",
                             (reference,)).fetchone()
    if report is None:
        raise NotFound("no report has this reference")
    return report, lock(conn, case_id=int(report["case_id"]))


def _alerts(conn: psycopg.Connection, case_id: int, condition: str) -> list[int]:
    """The gathered alerts in a condition, locked (a racing automatic clear waits)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return [int(r[0]) for r in cur.execute(
            "SELECT a.id FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id "
            f"WHERE ca.case_id = %s AND {condition} ORDER BY a.id FOR UPDATE OF a",
            (case_id,)).fetchall()]


def duty(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int, org_kind: str,
         note: str | None) -> CaseChange:
    """The organization reports for duty (a party on duty from now); Conflict if it is."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO case_parties AS p (case_id, org_id, kind, required, called_at, "
            "  on_duty_at, on_duty_by, late) "
            "SELECT c.id, %(org)s, %(kind)s, false, NULL, now(), %(actor)s, false "
            "FROM cases c WHERE c.id = %(id)s "
            "ON CONFLICT (case_id, org_id) DO UPDATE SET on_duty_at = now(), "
            "  on_duty_by = EXCLUDED.on_duty_by, late = p.late OR (p.required AND now() > "
            "  (SELECT accept_by FROM cases WHERE id = p.case_id)) "
            "WHERE p.on_duty_at IS NULL RETURNING p.late",
            {"id": case_id, "org": org_id, "kind": org_kind, "actor": actor}).fetchone()
    if row is None:
        raise Conflict("your organization has already reported for duty on this case")
    _touch(conn, case_id)
    for alert_id in _alerts(conn, case_id, "a.state = 'open'"):
        alert_changes.acknowledge(conn, alert_id=alert_id, actor=actor, org_id=org_id,
                                  note=note or f"reported for duty on case {case_id}")
    _event(conn, case_id=case_id, action="on_duty", actor=actor, org_id=org_id,
           details={"note": note, "late": bool(row[0])})
    return _publish(conn, case_id=case_id, change="on_duty", actor=actor,
                    details={"org_id": org_id})


def arrive(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int | None,
           note: str | None) -> CaseChange:
    """A party arrived on site: the case is on site."""
    if org_id is not None:
        conn.execute("UPDATE case_parties SET arrived_at = now(), arrived_by = %s "
                     "WHERE case_id = %s AND org_id = %s", (actor, case_id, org_id))
    _touch(conn, case_id, "state = 'on_site', arrived_at = coalesce(arrived_at, now())", {})
    for alert_id in _alerts(conn, case_id, "a.state <> 'resolved' AND a.arrived_at IS NULL"):
        alert_changes.arrive(conn, alert_id=alert_id, actor=actor, org_id=org_id, note=note)
    _event(conn, case_id=case_id, action="arrived", actor=actor, org_id=org_id,
           details={"note": note} if note else {})
    return _publish(conn, case_id=case_id, change="arrived", actor=actor)


def rescued(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int | None,
            trapped_count: int, injured_count: int, note: str | None) -> CaseChange:
    """The trapped passengers are out: how many, how many hurt."""
    _touch(conn, case_id, "rescued_at = now(), trapped_count = %(t)s, injured_count = %(i)s",
           {"t": trapped_count, "i": injured_count})
    _event(conn, case_id=case_id, action="rescued", actor=actor, org_id=org_id,
           details={"trapped_count": trapped_count, "injured_count": injured_count,
                    "note": note})
    return _publish(conn, case_id=case_id, change="rescued", actor=actor)


def _resolve_alerts(conn: psycopg.Connection, case_id: int, actor: str, org_id: int | None,
                    why: str) -> None:
    for alert_id in _alerts(conn, case_id, "a.state <> 'resolved'"):
        alert_changes.resolve(conn, alert_id=alert_id, actor=actor, org_id=org_id, note=why)


def resolve(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int | None,
            cause: str, note: str) -> CaseChange:
    """The work is done, with its cause; the gathered alerts still open are resolved."""
    _touch(conn, case_id, "state = 'resolved', resolved_at = now(), resolved_by = %(a)s, "
           "cause = %(c)s, overdue = false", {"a": actor, "c": cause})
    _resolve_alerts(conn, case_id, actor, org_id, f"case {case_id} resolved ({cause}): {note}")
    _event(conn, case_id=case_id, action="resolved", actor=actor, org_id=org_id,
           details={"cause": cause, "note": note})
    return _publish(conn, case_id=case_id, change="resolved", actor=actor,
                    details={"cause": cause})


def close(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int | None,
          note: str | None, details: dict[str, Any] | None = None) -> CaseChange:
    """Closed for good (by street, supervision, admin, the reporter, or after a week)."""
    _touch(conn, case_id, "state = 'closed', closed_at = now(), closed_by = %(a)s, "
           "overdue = false", {"a": actor})
    _resolve_alerts(conn, case_id, actor, org_id, f"case {case_id} closed")
    _event(conn, case_id=case_id, action="closed", actor=actor, org_id=org_id,
           details={"note": note, **(details or {})})
    return _publish(conn, case_id=case_id, change="closed", actor=actor)


def cancel(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int | None,
           reason: str) -> CaseChange:
    """A false alarm or a duplicate: cancelled with the reason."""
    _touch(conn, case_id, "state = 'cancelled', cancel_reason = %(r)s, closed_at = now(), "
           "closed_by = %(a)s, overdue = false", {"r": reason, "a": actor})
    _resolve_alerts(conn, case_id, actor, org_id, f"case {case_id} cancelled: {reason}")
    _event(conn, case_id=case_id, action="cancelled", actor=actor, org_id=org_id,
           details={"reason": reason})
    return _publish(conn, case_id=case_id, change="cancelled", actor=actor)


def note(conn: psycopg.Connection, *, case_id: int, actor: str, org_id: int | None,
         text: str) -> CaseChange:
    """A comment on the record."""
    _touch(conn, case_id)
    _event(conn, case_id=case_id, action="noted", actor=actor, org_id=org_id,
           details={"note": text})
    return _publish(conn, case_id=case_id, change="noted", actor=actor)


def feedback(conn: psycopg.Connection, *, report: Row, case: Row, solved: bool,
             comment: str | None, limits: CaseLimits, now: datetime) -> CaseChange:
    """The reporter says solved (the case closes) or not solved (it reopens: open again,
    new arrival and resolution deadlines from now, climbing from the level it reached)."""
    case_id = int(case["id"])
    conn.execute("UPDATE case_reports SET feedback_at = now(), solved = %s, comment = %s "
                 "WHERE id = %s", (solved, comment, report["id"]))
    if solved:
        return close(conn, case_id=case_id, actor="resident", org_id=None, note=comment,
                     details={"solved": True, "report_id": report["id"]})
    arrive_by = None if limits.arrive_s is None else now + timedelta(seconds=limits.arrive_s)
    resolve_by = (None if limits.resolve_s is None
                  else now + timedelta(seconds=limits.resolve_s))
    _touch(conn, case_id, "state = 'open', reopened = reopened + 1, resolved_at = NULL, "
           "resolved_by = NULL, cause = NULL, arrived_at = NULL, overdue = false, "
           "escalated_at = %(now)s, arrive_by = %(arrive)s, "
           "resolve_by = coalesce(%(resolve)s, resolve_by)",
           {"now": now, "arrive": arrive_by, "resolve": resolve_by})
    conn.execute("UPDATE case_parties SET arrived_at = NULL, arrived_by = NULL "
                 "WHERE case_id = %s", (case_id,))
    _event(conn, case_id=case_id, action="reopened", actor="resident",
           details={"solved": False, "comment": comment, "report_id": report["id"]})
    return _publish(conn, case_id=case_id, change="reopened", actor="resident")
