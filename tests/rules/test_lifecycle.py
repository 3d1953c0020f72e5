"""Alert lifecycle against the real database: raise, update, clear, the audit trail, the
outbox, the one-open-per-kind race, and the rescue clock surviving updates."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from rules import lifecycle
from rules.policy import Rescue
from rules.transitions import Transition
from storage import alerts, registry
from tests.builders import Fleet, seed_fleet

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


def apply(conn: psycopg.Connection, *transitions: Transition, now: datetime = T0):
    return lifecycle.apply(conn, transitions=list(transitions), now=now, rescue=Rescue())


def change(fleet: Fleet, action: str, *, kind: str = "power_loss", eid: str = "E1",
           at: datetime = T0, details: dict | None = None, severity: str = "major") -> Transition:
    return Transition(eid, fleet.pks[eid], kind, action, us(at), severity, details or {})


def actions(conn: psycopg.Connection, alert_id: int) -> list[str]:
    return [e["action"] for e in alerts.events(conn, alert_id=alert_id)]


def test_raise_opens_an_alert_with_event_time_and_the_property_org(db, fleet):
    opened = T0 - timedelta(seconds=10)
    [done] = apply(db, change(fleet, "raise", at=opened, details={"power": "backup"}),
                   now=T0)
    assert done.change == "raised"
    row = alerts.get(db, alert_id=done.alert_id)
    assert row["state"] == "open" and row["kind"] == "power_loss"
    assert row["opened_at"] == opened and row["raised_at"] == T0
    assert row["property_org_id"] == fleet.orgs["prop_a"]
    assert row["details"] == {"power": "backup"} and row["escalation_level"] == 0
    [event] = alerts.events(db, alert_id=done.alert_id)
    assert (event["action"], event["actor"]) == ("raised", "whistle")
    outbox = db.execute("SELECT change, alert->>'state', alert->>'elevator_id' "
                        "FROM alert_outbox").fetchall()
    assert outbox == [("raised", "open", "E1")]


def test_raise_again_updates_then_update_then_clear_resolves(db, fleet):
    [first] = apply(db, change(fleet, "raise", details={"n": 1}))
    [again] = apply(db, change(fleet, "raise", details={"n": 2}, severity="critical"))
    assert (again.alert_id, again.change) == (first.alert_id, "updated")
    [upd] = apply(db, change(fleet, "update", details={"n": 3}, severity="critical"))
    assert upd.alert_id == first.alert_id
    row = alerts.get(db, alert_id=first.alert_id)
    assert row["details"] == {"n": 3} and row["severity"] == "critical"
    [cleared] = apply(db, change(fleet, "clear", details={"power": "mains"}),
                      now=T0 + timedelta(minutes=2))
    row = alerts.get(db, alert_id=first.alert_id)
    assert cleared.change == "resolved" and row["state"] == "resolved"
    assert row["resolved_by"] == "whistle: condition cleared"
    assert row["resolved_at"] == T0 + timedelta(minutes=2)
    assert actions(db, first.alert_id) == ["raised", "updated", "updated", "resolved"]
    # Nothing open any more: a clear or an update does nothing, a raise opens a new alert.
    assert apply(db, change(fleet, "clear")) == []
    assert apply(db, change(fleet, "update")) == []
    [new] = apply(db, change(fleet, "raise"))
    assert new.change == "raised" and new.alert_id != first.alert_id


def test_property_org_is_the_one_at_raise_time(db, fleet):
    [before] = apply(db, change(fleet, "raise", kind="offline"))
    registry.handover(db, elevator_pk=fleet.pks["E1"], property_org_id=fleet.orgs["prop_b"],
                      effective_at=None, recorded_by="test")
    [after] = apply(db, change(fleet, "raise", kind="door_fault"),
                    now=datetime.now(UTC) + timedelta(seconds=1))
    assert alerts.get(db, alert_id=before.alert_id)["property_org_id"] == fleet.orgs["prop_a"]
    assert alerts.get(db, alert_id=after.alert_id)["property_org_id"] == fleet.orgs["prop_b"]


def test_concurrent_raises_of_one_kind_open_one_alert(pg_url, db, fleet):
    barrier = threading.Barrier(4)
    ids: list[int] = []
    lock = threading.Lock()

    def raise_one() -> None:
        with psycopg.connect(pg_url) as conn:
            barrier.wait()
            done = apply(conn, change(fleet, "raise", kind="alarm_pressed"))
            with lock:
                ids.extend(d.alert_id for d in done)

    threads = [threading.Thread(target=raise_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(ids) == 4 and len(set(ids)) == 1
    n = db.execute("SELECT count(*) FROM alerts WHERE kind = 'alarm_pressed'").fetchone()
    assert n == (1,)
    assert sorted(actions(db, ids[0])) == ["raised", "updated", "updated", "updated"]


def test_trapped_passenger_gets_a_rescue_clock_that_survives_updates(db, fleet):
    [done] = apply(db, change(fleet, "raise", kind="trapped_passenger", severity="critical",
                              details={"where": "between_floors"}))
    rescue = alerts.get(db, alert_id=done.alert_id)["details"]["rescue"]
    assert rescue["started_at"] == T0.isoformat() and rescue["late"] is False
    assert rescue["deadline_at"] == (T0 + timedelta(minutes=30)).isoformat()
    apply(db, change(fleet, "update", kind="trapped_passenger", severity="critical",
                     details={"where": "between_floors", "trapped_for_s": 90}))
    details = alerts.get(db, alert_id=done.alert_id)["details"]
    assert details["trapped_for_s"] == 90 and details["rescue"] == rescue
