"""Inspections (seal and unseal change the elevator's status), maintenance records, and
the admin endpoints of webhooks, through the real API."""

from __future__ import annotations

from tests.builders import World, ok


def status(world: World, eid: str) -> str:
    return ok(world.admin.get(f"/elevators/{eid}"))["status"]


def test_an_inspector_seals_and_unseals_an_elevator(world: World, db):
    before = status(world, "E1")
    assert before != "out_of_service"
    sealed = ok(world.as_("sup_d1").post("/elevators/E1/inspections", json={
        "result": "fail", "notes": "brake worn", "seal": True}), 201)
    assert sealed["sealed"] is True and sealed["status"] == "out_of_service"
    assert sealed["recorded_by"].startswith("supervision:sup_d1")
    assert status(world, "E1") == "out_of_service"
    assert ok(world.as_("prop_a").get("/elevators/E1"))["sealed"] is True
    # The rules service is told (NOTIFY whistle_registry) and picks the seal up.
    unsealed = ok(world.as_("sup_d1").post("/elevators/E1/inspections", json={
        "result": "pass", "seal": False, "next_due": "2099-05-01"}), 201)
    assert unsealed["sealed"] is False and unsealed["next_inspection_due"] == "2099-05-01"
    assert status(world, "E1") == before
    listed = ok(world.as_("maint_1").get("/elevators/E1/inspections"))
    assert [(i["result"], i["seal"]) for i in listed] == [("pass", False), ("fail", True)]
    # Without seal the seal is left alone.
    ok(world.admin.post("/elevators/E1/inspections", json={"result": "conditional"}), 201)
    assert status(world, "E1") == before


def test_inspections_are_for_the_districts_supervision(world: World):
    body = {"result": "pass"}
    assert world.as_(None).post("/elevators/E1/inspections", json=body).status_code == 401
    assert world.as_("sup_d2").post("/elevators/E1/inspections", json=body).status_code == 404
    assert world.as_("prop_b").post("/elevators/E1/inspections", json=body).status_code == 404
    for name in ("prop_a", "maint_1", "community_d1", "street_d1", "rescue_d1"):
        r = world.as_(name).post("/elevators/E1/inspections", json=body)
        assert r.status_code == 403, (name, r.text)
    assert world.as_("sup_d1").post("/elevators/NOPE/inspections", json=body).status_code == 404
    for bad, field in (({"result": "great"}, "result"), ({}, "result"),
                       ({"result": "pass", "seal": "yes"}, "seal"),
                       ({"result": "pass", "next_due": "soon"}, "next_due"),
                       ({"result": "pass", "color": "red"}, "color")):
        r = world.as_("sup_d1").post("/elevators/E1/inspections", json=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    assert world.as_("sup_d2").get("/elevators/E1/inspections").status_code == 404


def test_maintenance_is_recorded_by_the_maintainer_or_the_property_org(world: World):
    one = ok(world.as_("maint_1").post("/elevators/E1/maintenance",
                                       json={"notes": "ropes lubricated"}), 201)
    assert one["recorded_by"].startswith("maintenance:maint_1")
    assert one["org_id"] == world.orgs["maint_1"]
    ok(world.as_("prop_a").post("/elevators/E1/maintenance"), 201)
    ok(world.admin.post("/elevators/E1/maintenance", json={}), 201)
    assert world.as_(None).post("/elevators/E1/maintenance").status_code == 401
    assert world.as_("maint_2").post("/elevators/E1/maintenance").status_code == 404
    assert world.as_("prop_b").post("/elevators/E1/maintenance").status_code == 404
    for name in ("sup_d1", "community_d1", "rescue_d1"):
        assert world.as_(name).post("/elevators/E1/maintenance").status_code == 403, name
    r = world.as_("maint_1").post("/elevators/E1/maintenance", json={"notes": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "notes"
    listed = ok(world.as_("sup_d1").get("/elevators/E1/maintenance"))
    assert len(listed) == 3 and listed[-1]["notes"] == "ropes lubricated"
    assert ok(world.as_("maint_1").get("/elevators/E1/maintenance",
                                       params={"limit": 1}))[0]["id"] == listed[0]["id"]


def test_webhooks_are_managed_by_the_admin(world: World):
    org = world.orgs["prop_a"]
    made = ok(world.admin.post(f"/orgs/{org}/webhooks",
                               json={"url": "https://example.org/whistle"}), 201)
    assert len(made["secret"]) >= 32 and made["org_id"] == org
    chosen = ok(world.admin.post(f"/orgs/{org}/webhooks", json={
        "url": "https://93.184.215.14/hook", "secret": "my-own-secret-123456"}), 201)
    assert chosen["secret"] == "my-own-secret-123456"
    listed = ok(world.admin.get(f"/orgs/{org}/webhooks"))
    assert [w["id"] for w in listed] == [made["id"], chosen["id"]]
    assert all("secret" not in w for w in listed)
    again = world.admin.post(f"/orgs/{org}/webhooks", json={"url": "https://example.org/whistle"})
    assert again.status_code == 409
    for bad, field in (({"url": "ftp://x.org/a"}, "url"), ({}, "url"),
                       ({"url": "https://x.org/a", "secret": "short"}, "secret")):
        r = world.admin.post(f"/orgs/{org}/webhooks", json=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert world.as_("prop_a").post(f"/orgs/{org}/webhooks",
                                    json={"url": "https://x.org/a"}).status_code == 403
    assert world.as_("prop_a").get(f"/orgs/{org}/webhooks").status_code == 403
    assert world.as_(None).get(f"/orgs/{org}/webhooks").status_code == 401
    assert world.admin.get("/orgs/99999/webhooks").status_code == 404
    assert ok(world.admin.get(f"/orgs/{org}/webhooks/{made['id']}/deliveries")) == []
    assert world.admin.delete(f"/orgs/{org}/webhooks/{made['id']}").status_code == 204
    assert world.admin.delete(f"/orgs/{org}/webhooks/{made['id']}").status_code == 404
    assert [w["id"] for w in ok(world.admin.get(f"/orgs/{org}/webhooks"))] == [chosen["id"]]
