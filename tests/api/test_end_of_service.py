"""A property company walks out, and is replaced (CONTRACT section 5, End of service, and
section 6, responsibility gaps), through the real API: its credentials die at once, its
elevators have nobody responsible, the street office sees a gap case and closes it by
handing the site over; a maintenance contract ends and is given again; scheduled ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from core.cases import DEFAULT_LIMITS
from storage import cases, responsibility
from tests.builders import World, ok, raise_alert
from tests.helpers import wait_until


def gaps(world: World) -> list[dict]:
    return ok(world.admin.get("/cases", params={"kind": "responsibility_gap"}))


def test_a_property_company_leaves_and_the_street_office_appoints_another(world: World, db):
    prop_a = world.orgs["prop_a"]
    assert world.as_("prop_a").post(f"/orgs/{prop_a}/end-service",
                                    json={"reason": "x"}).status_code == 403
    assert world.as_("sup_d2").post(f"/orgs/{prop_a}/end-service",
                                    json={"reason": "x"}).status_code == 404
    old = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    r = world.as_("sup_d1").post(f"/orgs/{prop_a}/end-service",
                                 json={"reason": "x", "effective_at": old})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_at"
    out = ok(world.as_("sup_d1").post(f"/orgs/{prop_a}/end-service",
                                      json={"reason": "the company walked out"}))
    assert out["property_of"] == 2 and len(out["gap_cases"]) == 1
    # its token answers 401 at once; it is nobody's property organization now
    assert world.as_("prop_a").get("/elevators").status_code == 401
    assert world.as_("sup_d1").post(f"/orgs/{prop_a}/end-service",
                                    json={"reason": "again"}).status_code == 409
    listed = {e["id"]: e for e in ok(world.admin.get("/elevators"))}
    assert listed["E1"]["property_org_id"] is None and listed["E3"]["property_org_id"] is None
    assert listed["E2"]["property_org_id"] == world.orgs["prop_b"]
    nobody = [e["id"] for e in ok(world.admin.get("/elevators",
                                                  params={"responsible": "none"}))]
    assert nobody == ["E1", "E3"]  # E3 has no maintenance organization either
    assert world.admin.get("/elevators", params={"responsible": "some"}).status_code == 422
    # the street office sees them highlighted on the fleet view, in its language
    page = httpx.get(f"{world.url}/?lang=zh-CN", cookies={"whistle_token":
                                                          world.tokens["street_d1"]})
    assert page.status_code == 200 and page.text.count("无人管理") == 2
    assert 'class="tile status-unknown nobody" id="tile-E1"' in page.text
    assert 'class="tile status-unknown" id="tile-E2"' not in page.text  # D2: not its own
    [gap] = gaps(world)
    assert (gap["elevator_id"], gap["site_id"], gap["source"]) == (
        None, world.sites["S1"], "responsibility")
    assert "walked out" in gap["description"]
    required = {p["org_name"] for p in gap["parties"] if p["required"]}
    assert required == {"street_d1", "community_d1"}
    assert all(p["org_name"] != "prop_a" for p in gap["parties"])
    # an alert of E1 now calls the maintenance organization first: the missing level is
    # skipped (and the ended company is never called)
    alert_id = raise_alert(db, "E1", "power_loss")
    case = ok(world.admin.get(f"/cases/{ok(world.admin.get(f'/alerts/{alert_id}'))['case_id']}"))
    assert {p["org_name"] for p in case["parties"]} == {"maint_1"}
    # E3 has neither now: its case calls the community and the street office at once
    e3 = raise_alert(db, "E3", "door_fault")
    case = ok(world.admin.get(f"/cases/{ok(world.admin.get(f'/alerts/{e3}'))['case_id']}"))
    assert {p["org_name"] for p in case["parties"] if p["called_at"]} == {
        "street_d1", "community_d1"}
    # the street office hands the site to another property company: the gap closes itself
    street = world.as_("street_d1")
    assert world.as_("sup_d2").post(f"/sites/{world.sites['S1']}/handover", json={
        "property_org_id": world.orgs["prop_b"]}).status_code == 404
    assert world.as_("community_d1").post(f"/sites/{world.sites['S1']}/handover", json={
        "property_org_id": world.orgs["prop_b"]}).status_code == 403
    r = street.post(f"/sites/{world.sites['S1']}/handover", json={
        "property_org_id": world.orgs["prop_b"], "effective_at": old})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_at"
    done = ok(street.post(f"/sites/{world.sites['S1']}/handover",
                          json={"property_org_id": world.orgs["prop_b"]}))
    assert done["elevators"] == 2 and done["gap_cases_resolved"] == [gap["id"]]
    gap = ok(world.admin.get(f"/cases/{gap['id']}"))
    assert (gap["state"], gap["cause"]) == ("resolved", "other")
    assert "prop_b" in gap["events"][-1]["details"]["note"]
    assert "street_d1" in gap["resolved_by"]
    assert {e["id"] for e in ok(world.as_("prop_b").get("/elevators"))} == {"E1", "E2", "E3"}
    ok(street.post(f"/cases/{gap['id']}/close", json={"note": "new company in place"}))


def test_a_maintenance_contract_ends_and_is_given_again(world: World):
    maint_1 = world.orgs["maint_1"]
    ok(world.admin.post(f"/orgs/{maint_1}/end-service", json={"reason": "contract over"}))
    e1 = ok(world.admin.get("/elevators/E1"))
    assert e1["maintenance_org_id"] is None
    assert [m["org_id"] for m in e1["maintenance_history"]] == [maint_1, None]
    [gap] = gaps(world)
    assert gap["elevator_id"] == "E1"
    # PATCH: only admin (supervision only for next_inspection_due)
    assert world.as_("sup_d1").patch("/elevators/E1", json={
        "maintenance_org_id": world.orgs["maint_2"]}).status_code == 403
    assert world.as_("sup_d2").patch("/elevators/E1", json={
        "next_inspection_due": "2027-01-01"}).status_code == 404
    ok(world.as_("sup_d1").patch("/elevators/E1", json={"next_inspection_due": "2027-01-01"}))
    r = world.admin.patch("/elevators/E1", json={"maintenance_org_id": world.orgs["prop_b"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "maintenance_org_id"
    assert world.admin.patch("/elevators/E1", json={}).status_code == 422
    e1 = ok(world.admin.patch("/elevators/E1", json={"maintenance_org_id": world.orgs["maint_2"],
                                                     "name": "East car"}))
    assert (e1["maintenance_org_id"], e1["name"]) == (world.orgs["maint_2"], "East car")
    assert e1["next_inspection_due"] == "2027-01-01"
    assert [m["org_id"] for m in e1["maintenance_history"]] == [maint_1, None,
                                                                 world.orgs["maint_2"]]
    assert ok(world.admin.get(f"/cases/{gap['id']}"))["state"] == "resolved"


def test_a_scheduled_end_of_service_takes_effect_on_time(world: World, db):
    maint_1 = world.orgs["maint_1"]
    at = datetime.now(UTC) + timedelta(seconds=2)
    out = ok(world.admin.post(f"/orgs/{maint_1}/end-service",
                              json={"reason": "moving away", "effective_at": at.isoformat()}))
    assert out["gap_cases"] == []
    assert world.as_("maint_1").get("/elevators").status_code == 200  # not yet
    wait_until(lambda: world.as_("maint_1").get("/elevators").status_code == 401, timeout=10)
    assert datetime.now(UTC) >= at
    # what the rules service does every second (rules/service.py _escalate)
    opened = responsibility.apply_due(db, now=datetime.now(UTC), limits=DEFAULT_LIMITS)
    assert len(opened) == 1
    assert cases.get(db, case_id=opened[0])["elevator_id"] == "E1"
    assert ok(world.admin.get("/elevators/E1"))["maintenance_org_id"] is None
    assert responsibility.apply_due(db, now=datetime.now(UTC), limits=DEFAULT_LIMITS) == []


def test_patch_of_organizations_and_sites_is_for_admins(world: World):
    org, site = world.orgs["prop_a"], world.sites["S1"]
    assert world.as_("prop_a").patch(f"/orgs/{org}", json={"name": "x"}).status_code == 403
    assert world.as_("sup_d1").patch(f"/sites/{site}", json={"name": "x"}).status_code == 403
    renamed = ok(world.admin.patch(f"/orgs/{org}", json={"name": "曲江物业"}))
    assert renamed["name"] == "曲江物业"
    assert world.admin.patch(f"/orgs/{org}", json={"name": "prop_b"}).status_code == 409
    r = world.admin.patch(f"/orgs/{world.orgs['sup_d1']}", json={"district": None})
    assert r.status_code == 422
    assert world.admin.patch("/orgs/99999", json={"name": "y"}).status_code == 404
    site_row = ok(world.admin.patch(f"/sites/{site}", json={"district": "D2",
                                                            "address": "1 New Road"}))
    assert (site_row["district"], site_row["address"]) == ("D2", "1 New Road")
    # the district moved: D2's supervision sees the site's elevators now, D1's does not
    assert {e["id"] for e in ok(world.as_("sup_d2").get("/elevators"))} == {"E1", "E2", "E3"}
    assert ok(world.as_("sup_d1").get("/elevators")) == []
    assert world.admin.patch(f"/sites/{site}", json={}).status_code == 422
    assert world.admin.patch(f"/sites/{site}", json={"colour": "red"}).status_code == 422
