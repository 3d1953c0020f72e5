"""An elevator taken out of service for good (CONTRACT section 5, decommission), through
the real API: who may, the lists, the record; and through a running ingester: its telemetry
is refused at once while the rest of the fleet is stored."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from core.settings import Settings
from ingest import Ingester
from tests.builders import World, ok, raise_alert, sample
from tests.helpers import Publisher, now_ms, wait_until


def ids(world: World, **params: str) -> list[str]:
    return [e["id"] for e in ok(world.admin.get("/elevators", params=params))]


def test_roles_scope_the_record_and_the_lists(world: World, db: psycopg.Connection):
    alert_id = raise_alert(db, "E1", "power_loss")
    path = "/elevators/E1/decommission"
    assert world.as_("sup_d2").post(path, json={"reason": "x"}).status_code == 404
    assert world.as_("prop_a").post(path, json={"reason": "x"}).status_code == 403
    assert world.as_("community_d1").post(path, json={"reason": "x"}).status_code == 403
    for bad in ({}, {"reason": ""}, {"reason": "x" * 2001}, {"reason": "x", "more": 1}):
        r = world.as_("sup_d1").post(path, json=bad)
        assert r.status_code == 422, bad
    assert r.json()["errors"] and ids(world) == ["E1", "E2", "E3"]
    out = ok(world.as_("sup_d1").post(path, json={"reason": "replaced by a new car"}))
    assert out["id"] == "E1" and out["decommissioned_at"] is not None
    assert out["decommission_reason"] == "replaced by a new car"
    assert "sup_d1" in out["decommissioned_by"]
    assert out["open_alerts"] == []
    assert world.as_("sup_d1").post(path, json={"reason": "again"}).status_code == 409
    assert world.admin.post(path, json={"reason": "again"}).status_code == 409
    # its open alert was resolved, by the person who decommissioned it
    alert = ok(world.admin.get(f"/alerts/{alert_id}"))
    assert alert["state"] == "resolved" and "sup_d1" in alert["resolved_by"]
    assert alert["note"] == "decommissioned"
    # out of the default lists, still there with include=decommissioned and by id
    assert ids(world) == ["E2", "E3"]
    assert ids(world, include="decommissioned") == ["E1", "E2", "E3"]
    assert world.admin.get("/elevators", params={"include": "everything"}).status_code == 422
    assert "E1" not in [e["id"] for e in ok(world.as_("prop_a").get("/elevators"))]
    listed = ok(world.as_("prop_a").get("/elevators", params={"include": "decommissioned"}))
    assert [e["id"] for e in listed] == ["E1", "E3"]
    assert listed[0]["decommission_reason"] == "replaced by a new car"
    got = ok(world.as_("prop_a").get("/elevators/E1"))
    assert got["decommissioned_at"] == out["decommissioned_at"]
    assert got["property_history"] and got["maintenance_history"]
    assert ids(world, include="decommissioned", q="E1") == ["E1"]
    # the admin may decommission anywhere; the other lists are unchanged
    assert ok(world.admin.post("/elevators/E2/decommission",
                               json={"reason": "building demolished"}))["id"] == "E2"
    assert ids(world) == ["E3"]
    assert ok(world.admin.get("/elevators/E3"))["decommissioned_at"] is None


@pytest.fixture()
def ingester(settings: Settings, world: World) -> Iterator[Ingester]:
    ing = Ingester(settings)
    ing.start()
    assert ing.wait_subscribed(10), "ingester did not subscribe"
    yield ing
    ing.stop()


def test_its_telemetry_is_rejected_at_once(world: World, ingester: Ingester, mqtt_url: str,
                                           settings: Settings, db: psycopg.Connection):
    def stored(eid: str) -> int:
        return int(db.execute("SELECT count(*) FROM telemetry t JOIN elevators e "
                              "ON e.pk = t.elevator_pk WHERE e.id = %s",
                              (eid,)).fetchone()[0])

    pub = Publisher(mqtt_url)
    try:
        t0 = now_ms() - 10_000
        # the ingester has loaded its registry (cached for a minute) before the change
        pub.publish(settings.topic("lift/E1/telemetry"), sample(t0, 0, floor=1, pos_m=3.0))
        wait_until(lambda: stored("E1") == 1, message="E1's first sample")
        ok(world.as_("sup_d1").post("/elevators/E1/decommission", json={"reason": "gone"}))
        pub.publish(settings.topic("lift/E1/telemetry"), sample(t0 + 1000, 1, floor=1,
                                                                pos_m=3.0))
        pub.publish(settings.topic("lift/E1/state"), {"state": "online", "ts": t0 + 1000})
        pub.publish(settings.topic("lift/E2/telemetry"), sample(t0 + 1000, 1, floor=1,
                                                                pos_m=3.0))
        wait_until(lambda: stored("E2") == 1, message="E2's sample")
        rejects = wait_until(lambda: db.execute(
            "SELECT reason, detail, elevator_id FROM ingest_rejects ORDER BY id").fetchall()
            if db.execute("SELECT count(*) FROM ingest_rejects").fetchone()[0] >= 2 else None,
            message="E1's messages refused")
    finally:
        pub.close()
    assert stored("E1") == 1
    assert [(r[0], r[2]) for r in rejects] == [("decommissioned", "E1")] * 2
    assert "decommissioned" in rejects[0][1]
    listed = ok(world.admin.get("/ingest/rejects", params={"reason": "decommissioned"}))
    assert len(listed) == 2
