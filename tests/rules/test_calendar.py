"""Calendar rules: inspection_overdue and maintenance_overdue raise and clear, on an
injected clock, as pure logic and against the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from rules import calendar
from rules.policy import Policy
from storage import alerts, records
from tests.builders import Fleet, seed_fleet

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = 86400.0


def elevator(**kw):
    base = {"pk": 1, "id": "E1", "next_inspection_due": None, "registered_at": NOW,
            "last_maintenance": NOW, "open_kinds": []}
    return base | kw


def decide(**kw) -> list[tuple[str, str]]:
    return [(c.kind, c.action) for c in calendar.evaluate(
        elevators=[elevator(**kw)], now=NOW, maintenance_every_s=15 * DAY)]


def test_inspection_overdue_needs_a_due_date_that_has_passed():
    assert decide() == []
    assert decide(next_inspection_due=NOW.date()) == []  # due today: not yet overdue
    assert decide(next_inspection_due=NOW.date() - timedelta(days=1)) == [
        ("inspection_overdue", "raise")]
    assert decide(next_inspection_due=NOW.date() - timedelta(days=1),
                  open_kinds=["inspection_overdue"]) == []
    assert decide(next_inspection_due=date(2027, 6, 1),
                  open_kinds=["inspection_overdue"]) == [("inspection_overdue", "clear")]
    assert decide(open_kinds=["inspection_overdue"]) == [("inspection_overdue", "clear")]


def test_maintenance_overdue_counts_from_registration_until_the_first_record():
    assert decide(registered_at=NOW - timedelta(days=14), last_maintenance=None) == []
    assert decide(registered_at=NOW - timedelta(days=16), last_maintenance=None) == [
        ("maintenance_overdue", "raise")]
    assert decide(registered_at=NOW - timedelta(days=400),
                  last_maintenance=NOW - timedelta(days=3)) == []
    assert decide(last_maintenance=NOW - timedelta(days=15, seconds=1)) == [
        ("maintenance_overdue", "raise")]
    assert decide(last_maintenance=NOW - timedelta(days=1),
                  open_kinds=["maintenance_overdue"]) == [("maintenance_overdue", "clear")]


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    f = seed_fleet(db)
    db.execute("UPDATE elevators SET next_inspection_due = current_date - 1 WHERE id = 'E1'")
    db.execute("UPDATE elevators SET registered_at = now() - interval '16 days' "
               "WHERE id IN ('E1', 'E2')")
    return f


def open_calendar(conn: psycopg.Connection) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT e.id, a.kind FROM alerts a JOIN elevators e "
                        "ON e.pk = a.elevator_pk WHERE a.state <> 'resolved'").fetchall()
    return {(r[0], r[1]) for r in rows}


def test_calendar_alerts_are_raised_and_cleared_by_records(db, fleet):
    now = datetime.now(UTC)
    calendar.check(db, policy=Policy(), now=now)
    assert open_calendar(db) == {("E1", "inspection_overdue"), ("E1", "maintenance_overdue"),
                                 ("E2", "maintenance_overdue")}
    assert calendar.check(db, policy=Policy(), now=now) == []  # nothing twice
    records.record_maintenance(db, elevator_pk=fleet.pks["E1"], notes="ropes", org_id=None,
                               recorded_by="maintenance:maint_1")
    records.record_inspection(db, elevator_pk=fleet.pks["E1"], result="pass", notes=None,
                              seal=None, next_due=date(2099, 1, 1), org_id=None,
                              recorded_by="supervision:sup_d1")
    cleared = calendar.check(db, policy=Policy(), now=datetime.now(UTC))
    assert sorted(c.kind for c in cleared) == ["inspection_overdue", "maintenance_overdue"]
    assert open_calendar(db) == {("E2", "maintenance_overdue")}
    resolved = alerts.get(db, alert_id=cleared[0].alert_id)
    assert resolved["resolved_by"] == "whistle: condition cleared"
    # Fifteen days on (injected clock): E3 (registered just now) and E1 (maintained just
    # now) are overdue again; E2's alert is still open.
    later = calendar.check(db, policy=Policy(), now=now + timedelta(days=14, hours=23))
    assert later == []
    later = calendar.check(db, policy=Policy(), now=now + timedelta(days=15, hours=1))
    assert {(c.kind, c.elevator_pk) for c in later} == {
        ("maintenance_overdue", fleet.pks["E1"]), ("maintenance_overdue", fleet.pks["E3"])}
