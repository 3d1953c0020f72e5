"""Silences through the real API (issue 15): who may set, see and end them; never for a
life-safety kind; every silence stays on the record, visible to supervision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import World, ok

LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()


def silence(**more) -> dict:
    return {"elevator_id": "E1", "kinds": ["door_fault", "power_loss"],
            "reason": "modernisation of the doors, planned", "expires_at": LATER} | more


def test_a_silence_is_set_seen_by_supervision_and_ended_on_the_record(world: World):
    made = ok(world.as_("maint_1").post("/silences", json=silence()), 201)
    assert made["elevator_id"] == "E1" and made["kinds"] == ["door_fault", "power_loss"]
    assert made["owner"].startswith("maintenance:maint_1/") and made["active"] is True
    sid = made["id"]
    for who in ("sup_d1", "street_d1", "prop_a", "maint_1", None):
        client = world.admin if who is None else world.as_(who)
        assert [s["id"] for s in ok(client.get("/silences"))] == [sid], who
    for who in ("prop_b", "maint_2", "sup_d2"):
        assert ok(world.as_(who).get("/silences")) == []
        assert world.as_(who).get(f"/silences/{sid}").status_code == 404
        assert world.as_(who).delete(f"/silences/{sid}").status_code == 404
    assert world.as_(None).get("/silences").status_code == 401
    assert world.as_("prop_a").delete(f"/silences/{sid}").status_code == 403  # not its own
    assert world.as_("street_d1").delete(f"/silences/{sid}").status_code == 403
    assert world.as_("sup_d1").delete(f"/silences/{sid}").status_code == 204
    assert world.as_("maint_1").delete(f"/silences/{sid}").status_code == 409
    over = ok(world.as_("sup_d1").get(f"/silences/{sid}"))
    assert over["active"] is False and over["ended_by"].startswith("supervision:sup_d1/")
    assert ok(world.as_("sup_d1").get("/silences", params={"active": "true"})) == []


def test_who_may_set_a_silence(world: World):
    site = world.sites["S1"]
    ok(world.as_("prop_a").post("/silences", json=silence(elevator_id=None, site_id=site)),
       201)
    ok(world.as_("sup_d1").post("/silences", json=silence()), 201)
    ok(world.admin.post("/silences", json=silence(elevator_id="E2")), 201)
    for who in ("street_d1", "community_d1", "rescue_d1"):  # they see E1, may not silence it
        assert world.as_(who).post("/silences", json=silence()).status_code == 403
    for who in ("prop_b", "maint_2", "sup_d2"):  # they do not see E1 or S1
        assert world.as_(who).post("/silences", json=silence()).status_code == 404
        assert world.as_(who).post("/silences", json=silence(
            elevator_id=None, site_id=site)).status_code == 404
    assert world.admin.post("/silences", json=silence(elevator_id="NOPE")).status_code == 404
    site_silence = ok(world.as_("maint_1").get("/silences"))
    assert {s["site_id"] for s in site_silence} == {None, site}  # a site's: its maintenance


@pytest.mark.parametrize("kind", ["trapped_passenger", "door_open_while_moving", "overspeed",
                                  "sealed_in_use"])
def test_a_life_safety_kind_is_never_silenced(world: World, kind: str):
    r = world.admin.post("/silences", json=silence(kinds=["door_fault", kind]))
    assert r.status_code == 422 and kind in r.text and "kinds" in r.text
    assert ok(world.admin.get("/silences")) == []


@pytest.mark.parametrize(("body", "field"), [
    (silence(kinds=["door_fault", "teleport"]), "kinds"), (silence(kinds=[]), "kinds"),
    (silence(site_id=1), "elevator_id"), (silence(elevator_id=None), "elevator_id"),
    (silence(expires_at="2020-01-01T00:00:00Z"), "expires_at"),
    (silence(expires_at="2099-01-01T00:00:00Z"), "expires_at"),
    (silence(reason=""), "reason"), (silence(colour="red"), "colour")])
def test_a_bad_silence_is_a_422_naming_its_field(world: World, body: dict, field: str):
    r = world.admin.post("/silences", json=body)
    assert r.status_code == 422, r.text
    assert field in r.text
