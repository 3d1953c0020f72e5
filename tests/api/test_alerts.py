"""GET /alerts, GET /alerts/{id}, and reporting for duty through the real API: scoping,
filters, ack / arrive / resolve with their 401, 404, 409 and 422 answers, the rescue
clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules import escalation
from tests.builders import World, ok, raise_alert


def ids(r) -> list[int]:
    return [a["id"] for a in ok(r)]


def test_lists_are_scoped_filtered_and_newest_first(world: World, db):
    t = datetime.now(UTC)
    e1 = raise_alert(db, "E1", "power_loss", at=t - timedelta(minutes=3))
    e2 = raise_alert(db, "E2", "overspeed", "critical", at=t - timedelta(minutes=2))
    e3 = raise_alert(db, "E3", "leveling_error", "minor", at=t - timedelta(minutes=1))
    assert ids(world.admin.get("/alerts")) == [e3, e2, e1]
    assert ids(world.as_("prop_a").get("/alerts")) == [e3, e1]
    assert ids(world.as_("prop_b").get("/alerts")) == [e2]
    assert ids(world.as_("maint_1").get("/alerts")) == [e1]
    assert ids(world.as_("sup_d1").get("/alerts")) == [e3, e1]
    assert ids(world.as_("rescue_d1").get("/alerts")) == [e3, e1]
    assert ids(world.as_("sup_d2").get("/alerts")) == [e2]
    assert ids(world.admin.get("/alerts", params={"severity": "critical"})) == [e2]
    assert ids(world.admin.get("/alerts", params={"kind": "power_loss"})) == [e1]
    assert ids(world.admin.get("/alerts", params={"elevator_id": "E3"})) == [e3]
    assert ids(world.admin.get("/alerts", params={"state": "resolved"})) == []
    assert ids(world.admin.get("/alerts", params={"limit": 1, "offset": 1})) == [e2]
    alert = ok(world.admin.get("/alerts", params={"kind": "power_loss"}))[0]
    assert set(alert) >= {"id", "elevator_id", "kind", "severity", "state", "opened_at",
                          "updated_at", "acknowledged_at", "acknowledged_by", "resolved_at",
                          "resolved_by", "note", "escalation_level", "details"}
    assert (alert["elevator_id"], alert["state"], alert["escalation_level"]) == ("E1", "open", 0)


def test_wrong_filters_are_422_naming_the_field_and_no_token_is_401(world: World):
    for field, value in (("state", "closed"), ("kind", "flood"), ("severity", "fatal"),
                         ("late", "maybe"), ("limit", "0")):
        r = world.admin.get("/alerts", params={field: value})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    assert world.as_(None).get("/alerts").status_code == 401
    bad = world.as_(None).get("/alerts", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_one_alert_with_its_audit_trail_and_404_across_scopes(world: World, db):
    alert_id = raise_alert(db, "E1", "door_fault")
    body = ok(world.as_("maint_1").get(f"/alerts/{alert_id}"))
    assert body["id"] == alert_id and body["kind"] == "door_fault"
    assert [(e["action"], e["actor"]) for e in body["events"]] == [("raised", "whistle")]
    for other in ("prop_b", "maint_2", "sup_d2"):
        assert world.as_(other).get(f"/alerts/{alert_id}").status_code == 404
    assert world.admin.get("/alerts/999999").status_code == 404
    assert world.admin.get("/alerts/abc").status_code == 422


def test_ack_reports_for_duty_once(world: World, db):
    alert_id = raise_alert(db, "E1", "alarm_pressed")
    assert world.as_(None).post(f"/alerts/{alert_id}/ack").status_code == 401
    assert world.as_("prop_b").post(f"/alerts/{alert_id}/ack").status_code == 404
    r = world.as_("maint_1").post(f"/alerts/{alert_id}/ack", json={"nonsense": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "nonsense"
    r = world.as_("maint_1").post(f"/alerts/{alert_id}/ack", json={"note": "x" * 5000})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    acked = ok(world.as_("maint_1").post(f"/alerts/{alert_id}/ack",
                                         json={"note": "technician on the way"}))
    assert acked["state"] == "acknowledged" and acked["note"] == "technician on the way"
    assert acked["acknowledged_by"].startswith("maintenance:maint_1")
    assert acked["acknowledged_at"] is not None
    again = world.as_("prop_a").post(f"/alerts/{alert_id}/ack")
    assert again.status_code == 409 and "maint_1" in again.json()["detail"]
    events = ok(world.admin.get(f"/alerts/{alert_id}"))["events"]
    ack = [e for e in events if e["action"] == "acknowledged"]
    assert len(ack) == 1 and ack[0]["org_id"] == world.orgs["maint_1"]
    assert ack[0]["details"] == {"note": "technician on the way"}
    # Ack without a body at all is fine too.
    other = raise_alert(db, "E3", "alarm_pressed")
    assert ok(world.as_("sup_d1").post(f"/alerts/{other}/ack"))["state"] == "acknowledged"


def test_resolve_needs_a_note_and_happens_once(world: World, db):
    alert_id = raise_alert(db, "E2", "motor_overheat")
    assert world.as_(None).post(f"/alerts/{alert_id}/resolve",
                                json={"note": "x"}).status_code == 401
    assert world.as_("prop_a").post(f"/alerts/{alert_id}/resolve",
                                    json={"note": "x"}).status_code == 404
    for body in (None, {}, {"note": ""}):
        r = world.as_("prop_b").post(f"/alerts/{alert_id}/resolve", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] in ("note", "body")
    done = ok(world.as_("prop_b").post(f"/alerts/{alert_id}/resolve",
                                       json={"note": "fan replaced"}))
    assert (done["state"], done["note"]) == ("resolved", "fan replaced")
    assert done["resolved_by"].startswith("property:prop_b")
    r = world.as_("maint_2").post(f"/alerts/{alert_id}/resolve", json={"note": "again"})
    assert r.status_code == 409
    assert world.as_("maint_2").post(f"/alerts/{alert_id}/ack").status_code == 409
    assert world.as_("maint_2").post(f"/alerts/{alert_id}/arrive").status_code == 409
    assert ids(world.admin.get("/alerts", params={"state": "resolved"})) == [alert_id]


def test_arrival_stops_the_rescue_clock_and_late_rescues_are_visible(world: World, db):
    on_time = raise_alert(db, "E1", "trapped_passenger", "critical")
    ok(world.as_("maint_1").post(f"/alerts/{on_time}/ack"))
    arrived = ok(world.as_("maint_1").post(f"/alerts/{on_time}/arrive",
                                           json={"note": "doors opened"}))
    rescue = arrived["details"]["rescue"]
    assert arrived["arrived_by"].startswith("maintenance:maint_1")
    assert rescue["late"] is False and 0 <= rescue["arrived_after_s"] < 60
    assert rescue["acknowledged_after_s"] <= rescue["arrived_after_s"]
    assert world.as_("maint_1").post(f"/alerts/{on_time}/arrive").status_code == 409

    # A rescue that took 31 minutes (raised 31 minutes ago), arriving without an ack first.
    late = raise_alert(db, "E3", "trapped_passenger", "critical",
                  at=datetime.now(UTC) - timedelta(minutes=31))
    assert world.as_("prop_b").post(f"/alerts/{late}/arrive").status_code == 404
    body = ok(world.as_("rescue_d1").post(f"/alerts/{late}/arrive"))
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == body["arrived_by"]
    assert body["details"]["rescue"]["late"] is True
    assert body["details"]["rescue"]["arrived_after_s"] > 30 * 60
    actions = [e["action"] for e in ok(world.admin.get(f"/alerts/{late}"))["events"]]
    assert actions == ["raised", "acknowledged", "arrived"]

    # Nobody on site past the deadline: flagged late by the service's timer.
    waiting = raise_alert(db, "E2", "trapped_passenger", "critical",
                     at=datetime.now(UTC) - timedelta(minutes=40))
    escalation.flag_late_rescues(db, now=datetime.now(UTC))
    assert ids(world.as_("sup_d1").get("/alerts", params={"late": "true"})) == [late]
    assert ids(world.as_("sup_d2").get("/alerts", params={"late": "true"})) == [waiting]
    assert ids(world.admin.get("/alerts", params={"late": "false",
                                                  "kind": "trapped_passenger"})) == [on_time]
