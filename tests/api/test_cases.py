"""Cases through the real API (CONTRACT section 6): alerts open and gather cases, every step
of reporting for duty with its refusals (403 beyond the role, 404 beyond the scope, 409 in
the wrong state, 422 for bad data), contacts only for parties, hazards from inspections,
responsibility gaps, and the alert acknowledgement that reports for duty on its case."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage import cases
from tests.builders import World, ok, raise_alert


def case_of(world: World, alert_id: int) -> dict:
    alert = ok(world.admin.get(f"/alerts/{alert_id}"))
    assert alert["case_id"] is not None
    return ok(world.admin.get(f"/cases/{alert['case_id']}"))


def test_a_trapped_passenger_opens_a_rescue_case_calling_property_and_maintenance(
        world: World, db):
    alert_id = raise_alert(db, "E1", "trapped_passenger", "critical")
    case = case_of(world, alert_id)
    assert (case["kind"], case["state"], case["source"], case["elevator_id"]) == (
        "rescue", "open", "alert", "E1")
    assert case["alerts"] == [alert_id] and case["level"] == 0 and not case["overdue"]
    parties = {p["org_name"]: p for p in case["parties"]}
    assert set(parties) == {"prop_a", "maint_1"}
    assert all(p["required"] and p["called_at"] and p["on_duty_at"] is None
               for p in parties.values())
    opened = datetime.fromisoformat(case["opened_at"])
    assert datetime.fromisoformat(case["accept_by"]) - opened == timedelta(minutes=5)
    assert datetime.fromisoformat(case["arrive_by"]) - opened == timedelta(minutes=30)
    assert datetime.fromisoformat(case["resolve_by"]) - opened == timedelta(hours=2)
    assert set(case) >= {"id", "kind", "state", "elevator_id", "site_id", "site_name",
                         "district", "source", "opened_at", "updated_at", "description",
                         "alerts", "reports", "parties", "level", "overdue", "accept_by",
                         "arrive_by", "resolve_by", "resolved_at", "resolved_by", "cause",
                         "closed_at", "closed_by", "reopened", "trapped_count",
                         "injured_count", "rescued_at", "events"}
    assert [e["action"] for e in case["events"]] == ["opened", "alert_added"]


def test_a_fault_case_gathers_the_elevators_critical_and_major_alerts_not_minor_ones(
        world: World, db):
    first = raise_alert(db, "E1", "power_loss", "major")
    second = raise_alert(db, "E1", "overspeed", "critical")
    minor = raise_alert(db, "E1", "leveling_error", "minor")
    case = case_of(world, first)
    assert case["kind"] == "fault" and case["alerts"] == [first, second]
    assert ok(world.admin.get(f"/alerts/{minor}"))["case_id"] is None
    assert ok(world.admin.get(f"/cases/{case['id']}"))["id"] == case["id"]
    assert cases.queries.case_of_alert(db, alert_id=second) == case["id"]
    assert len(ok(world.admin.get("/cases", params={"kind": "fault"}))) == 1


def test_the_whole_path_duty_arrive_rescued_resolve_close_with_who_and_when(
        world: World, db):
    alert_id = raise_alert(db, "E1", "trapped_passenger", "critical")
    case_id = case_of(world, alert_id)["id"]
    prop, maint = world.as_("prop_a"), world.as_("maint_1")
    # beyond the role: arriving before reporting for duty
    r = prop.post(f"/cases/{case_id}/arrive")
    assert r.status_code == 403 and "report for duty" in r.json()["detail"]
    case = ok(prop.post(f"/cases/{case_id}/duty", json={"note": "on our way"}))
    me = next(p for p in case["parties"] if p["org_name"] == "prop_a")
    assert me["on_duty_at"] and "prop_a" in me["on_duty_by"] and not me["late"]
    # the alert of the case is acknowledged by the same step, for v1 clients
    alert = ok(world.admin.get(f"/alerts/{alert_id}"))
    assert alert["state"] == "acknowledged" and "prop_a" in alert["acknowledged_by"]
    assert prop.post(f"/cases/{case_id}/duty").status_code == 409
    ok(maint.post(f"/cases/{case_id}/duty"))
    case = ok(maint.post(f"/cases/{case_id}/arrive", json={"note": "at the car"}))
    assert case["state"] == "on_site"
    assert maint.post(f"/cases/{case_id}/arrive").status_code == 409
    r = maint.post(f"/cases/{case_id}/rescued", json={"trapped_count": 1,
                                                      "injured_count": 2})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "injured_count"
    case = ok(maint.post(f"/cases/{case_id}/rescued", json={"trapped_count": 2,
                                                           "injured_count": 0}))
    assert case["trapped_count"] == 2 and case["rescued_at"]
    assert maint.post(f"/cases/{case_id}/rescued",
                      json={"trapped_count": 2, "injured_count": 0}).status_code == 409
    r = maint.post(f"/cases/{case_id}/resolve", json={"note": "reset the door operator"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cause"
    r = maint.post(f"/cases/{case_id}/resolve", json={"cause": "weather", "note": "x"})
    assert r.status_code == 422 and "door_system" in r.text
    # close before resolve is a 409 for those who may close; a property org may not close
    assert world.as_("street_d1").post(f"/cases/{case_id}/close").status_code == 409
    case = ok(maint.post(f"/cases/{case_id}/resolve",
                         json={"cause": "door_system", "note": "reset the door operator"}))
    assert (case["state"], case["cause"]) == ("resolved", "door_system")
    assert "maint_1" in case["resolved_by"]
    assert ok(world.admin.get(f"/alerts/{alert_id}"))["state"] == "resolved"
    assert prop.post(f"/cases/{case_id}/close").status_code == 403
    case = ok(world.as_("street_d1").post(f"/cases/{case_id}/close", json={"note": "ok"}))
    assert case["state"] == "closed" and "street_d1" in case["closed_by"]
    actions = [e["action"] for e in ok(world.admin.get(f"/cases/{case_id}"))["events"]]
    assert actions == ["opened", "alert_added", "on_duty", "on_duty", "arrived", "rescued",
                       "resolved", "closed"]
    assert maint.post(f"/cases/{case_id}/notes", json={"note": "follow-up"}).status_code == 201


def test_cases_are_scoped_404_across_scopes_and_contacts_are_for_parties_only(
        world: World, db):
    case = ok(world.as_("rescue_d1").post("/cases", json={
        "kind": "rescue", "description": "96333 call: two people stuck",
        "elevator_id": "E1", "trapped_count": 2, "contact": "138 0000 0000"}), 201)
    assert case["source"] == "org" and case["trapped_count"] == 2
    assert case["contact"] == "138 0000 0000"  # the rescue organization took the call
    case_id = case["id"]
    for other in ("prop_b", "maint_2", "sup_d2"):
        assert world.as_(other).get(f"/cases/{case_id}").status_code == 404
        assert world.as_(other).post(f"/cases/{case_id}/duty").status_code == 404
        assert ok(world.as_(other).get("/cases")) == []
    # a district organization that sees it but is no party does not see the contact
    seen = ok(world.as_("sup_d1").get(f"/cases/{case_id}"))
    assert seen["contact"] is None
    assert ok(world.as_("prop_a").get(f"/cases/{case_id}"))["contact"] == "138 0000 0000"
    assert ok(world.admin.get(f"/cases/{case_id}"))["contact"] == "138 0000 0000"
    assert world.admin.get("/cases/999999").status_code == 404
    assert world.admin.get("/cases/abc").status_code == 422


def test_a_rescue_organization_finds_the_elevator_by_its_rescue_code(world: World, db):
    db.execute("UPDATE elevators SET rescue_code = '12345', rescue_district = 'D1' "
               "WHERE id = 'E3'")
    case = ok(world.as_("rescue_d1").post("/cases", json={
        "kind": "rescue", "description": "call", "rescue_code": "12345"}), 201)
    assert case["elevator_id"] == "E3" and not case["joined"]
    again = world.as_("rescue_d1").post("/cases", json={
        "kind": "rescue", "description": "second call", "rescue_code": "12345"})
    assert again.status_code == 200 and again.json()["joined"]
    assert again.json()["id"] == case["id"]
    r = world.as_("rescue_d1").post("/cases", json={"kind": "rescue", "description": "x",
                                                     "rescue_code": "54321"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rescue_code"
    # another district's organization does not find it
    r = world.as_("sup_d2").post("/cases", json={"kind": "rescue", "description": "x",
                                                  "rescue_code": "12345"})
    assert r.status_code == 422


def test_bad_bodies_and_filters_are_422_naming_the_field(world: World):
    for body, field in (({"kind": "flood", "description": "x", "elevator_id": "E1"}, "kind"),
                        ({"kind": "fault", "elevator_id": "E1"}, "description"),
                        ({"kind": "fault", "description": "x"}, "elevator_id"),
                        ({"kind": "fault", "description": "x", "elevator_id": "E1",
                          "site_id": 1}, "elevator_id"),
                        ({"kind": "hazard", "description": "x", "elevator_id": "E1"}, "kind"),
                        ({"kind": "fault", "description": "x" * 4001, "elevator_id": "E1"},
                         "description"),
                        ({"kind": "fault", "description": "x", "elevator_id": "E1",
                          "contact": "x" * 65}, "contact"),
                        ({"kind": "fault", "description": "x", "elevator_id": "E1",
                          "trapped_count": -1}, "trapped_count"),
                        ({"kind": "fault", "description": "x", "elevator_id": "E1",
                          "colour": "red"}, "colour")):
        r = world.as_("prop_a").post("/cases", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
    assert world.as_("prop_a").post("/cases", json={"kind": "fault", "description": "x",
                                                    "elevator_id": "E2"}).status_code == 404
    for name, value in (("state", "stuck"), ("kind", "x"), ("overdue", "maybe"),
                        ("party", "you")):
        r = world.admin.get("/cases", params={name: value})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == name


def test_cancel_is_for_property_street_supervision_and_admin(world: World, db):
    case_id = case_of(world, raise_alert(db, "E1", "door_fault"))["id"]
    assert world.as_("maint_1").post(f"/cases/{case_id}/cancel",
                                     json={"reason": "dup"}).status_code == 403
    assert world.as_("prop_a").post(f"/cases/{case_id}/cancel", json={}).status_code == 422
    case = ok(world.as_("prop_a").post(f"/cases/{case_id}/cancel",
                                       json={"reason": "a duplicate of a phone call"}))
    assert case["state"] == "cancelled" and case["cancel_reason"].startswith("a duplicate")
    assert world.as_("prop_a").post(f"/cases/{case_id}/cancel",
                                    json={"reason": "again"}).status_code == 409
    assert world.as_("prop_a").post(f"/cases/{case_id}/duty").status_code == 409


def test_party_me_and_filters(world: World, db):
    fault = case_of(world, raise_alert(db, "E1", "door_fault"))["id"]
    rescue = case_of(world, raise_alert(db, "E3", "trapped_passenger", "critical"))["id"]
    ids = [c["id"] for c in ok(world.as_("maint_1").get("/cases", params={"party": "me"}))]
    assert ids == [fault]  # E3 has no maintenance organization
    ids = [c["id"] for c in ok(world.as_("prop_a").get("/cases", params={"party": "me"}))]
    assert ids == [rescue, fault]
    assert ok(world.as_("sup_d1").get("/cases", params={"party": "me"})) == []
    assert [c["id"] for c in ok(world.admin.get("/cases", params={"kind": "rescue"}))] == [
        rescue]
    assert [c["id"] for c in ok(world.admin.get("/cases", params={"elevator_id": "E1"}))] == [
        fault]
    assert ok(world.admin.get("/cases", params={"overdue": "true"})) == []


def test_alert_ack_reports_for_duty_on_its_case(world: World, db):
    alert_id = raise_alert(db, "E1", "power_loss")
    ok(world.as_("maint_1").post(f"/alerts/{alert_id}/ack", json={"note": "coming"}))
    case = case_of(world, alert_id)
    me = next(p for p in case["parties"] if p["org_name"] == "maint_1")
    assert me["on_duty_at"] is not None
    ok(world.as_("prop_a").post(f"/alerts/{alert_id}/arrive"))
    case = case_of(world, alert_id)
    assert case["state"] == "on_site"
    me = next(p for p in case["parties"] if p["org_name"] == "prop_a")
    assert me["on_duty_at"] and me["arrived_at"]


def test_an_inspection_with_hazards_opens_a_hazard_case_only_supervision_closes(
        world: World, db):
    sup = world.as_("sup_d1")
    r = sup.post("/elevators/E1/inspections", json={"result": "conditional",
                                                    "hazards": ["worn traction rope"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rectify_by"
    r = sup.post("/elevators/E1/inspections", json={
        "result": "conditional", "hazards": ["x"], "rectify_by": "2020-01-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rectify_by"
    due = (date.today() + timedelta(days=14)).isoformat()
    out = ok(sup.post("/elevators/E1/inspections", json={
        "result": "conditional", "hazards": ["worn traction rope", "no landing light"],
        "rectify_by": due}), 201)
    case = ok(world.admin.get(f"/cases/{out['case_id']}"))
    assert (case["kind"], case["source"], case["hazards"]) == (
        "hazard", "inspection", ["worn traction rope", "no landing light"])
    assert case["rectify_by"] == due and case["arrive_by"] is None
    assert datetime.fromisoformat(case["resolve_by"]).date() == date.fromisoformat(due) + \
        timedelta(days=1) or datetime.fromisoformat(case["resolve_by"]).astimezone(
            UTC).date() >= date.fromisoformat(due)
    ok(world.as_("maint_1").post(f"/cases/{case['id']}/duty"))
    ok(world.as_("maint_1").post(f"/cases/{case['id']}/resolve",
                                 json={"cause": "mechanical", "note": "rope replaced"}))
    assert world.as_("street_d1").post(f"/cases/{case['id']}/close").status_code == 403
    before = len(ok(world.admin.get("/elevators/E1/inspections")))
    case = ok(sup.post(f"/cases/{case['id']}/close", json={"note": "re-inspected: fine"}))
    assert case["state"] == "closed"
    assert len(ok(world.admin.get("/elevators/E1/inspections"))) == before + 1


def test_a_responsibility_gap_case_calls_street_and_community(world: World, db):
    # the function the end-of-service flow calls
    r = world.as_("prop_a").post("/cases", json={"kind": "responsibility_gap",
                                                 "description": "x", "site_id": 1})
    assert r.status_code == 403
    case = ok(world.as_("street_d1").post("/cases", json={
        "kind": "responsibility_gap", "description": "the property company left",
        "site_id": world.sites["S1"]}), 201)
    assert (case["kind"], case["source"], case["elevator_id"]) == (
        "responsibility_gap", "responsibility", None)
    required = {p["org_name"] for p in case["parties"] if p["required"]}
    assert required == {"street_d1", "community_d1"}
    assert world.as_("prop_b").get(f"/cases/{case['id']}").status_code == 404
    assert ok(world.as_("community_d1").get(f"/cases/{case['id']}"))["id"] == case["id"]


def test_an_alert_that_clears_by_itself_leaves_its_case_for_a_person_to_resolve(
        world: World, db):
    from storage.alerts import changes

    alert_id = raise_alert(db, "E1", "trapped_passenger", "critical")
    now = datetime.now(UTC)
    with db.transaction():
        assert changes.clear(db, elevator_pk=1, kind="trapped_passenger", now=now, at=now,
                             details={}) is not None
    assert ok(world.admin.get(f"/alerts/{alert_id}"))["state"] == "resolved"
    case = case_of(world, alert_id)
    assert case["state"] == "open" and case["resolved_at"] is None


def test_changed_case_limits_in_the_rules_file_apply_without_a_restart(tmp_path, settings, db):
    from tests.builders import standard_world
    from tests.helpers import ApiServer

    rules = tmp_path / "rules.toml"
    rules.write_text('[cases.complaint]\naccept = "1h"\n')
    with ApiServer(settings.model_copy(update={"rules_file": rules})) as url:
        w = standard_world(url, settings.admin_token, db)
        try:
            body = {"kind": "complaint", "description": "lift dirty", "elevator_id": "E1"}
            case = ok(w.as_("prop_a").post("/cases", json=body), 201)
            opened = datetime.fromisoformat(case["opened_at"])
            assert datetime.fromisoformat(case["accept_by"]) - opened == timedelta(hours=1)
            ok(w.as_("prop_a").post(f"/cases/{case['id']}/cancel", json={"reason": "test"}))
            rules.write_text('[cases.complaint]\naccept = "2h"\n\n\n')
            import os
            os.utime(rules, ns=(1, 10**18))  # a new modification time, whatever the clock
            case = ok(w.as_("prop_a").post("/cases", json=body), 201)
            opened = datetime.fromisoformat(case["opened_at"])
            assert datetime.fromisoformat(case["accept_by"]) - opened == timedelta(hours=2)
        finally:
            w.close()
