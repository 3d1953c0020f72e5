"""Registry and access through the real HTTP API: who sees which elevator, before and after
a handover, and the 401/403/404/409/422 answers of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from core.settings import Settings
from tests.helpers import ApiServer


@pytest.fixture()
def api(settings: Settings, db: psycopg.Connection) -> Iterator[str]:
    """Base URL of the API on an empty database."""
    with ApiServer(settings) as url:
        yield url


def client(url: str, token: str | None) -> httpx.Client:
    """An HTTP client for /api/v1 with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=10)


@dataclass
class World:
    """Two districts, two property companies, two maintainers, and every other kind."""

    admin: httpx.Client
    orgs: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    url: str = ""
    clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    def as_(self, name: str | None) -> httpx.Client:
        """A client holding the token of the named organization (None: no token)."""
        if name not in self.clients:
            self.clients[name] = client(self.url, self.tokens[name] if name else None)
        return self.clients[name]

    def close(self) -> None:
        """Close every client."""
        for c in [self.admin, *self.clients.values()]:
            c.close()

    def visible(self, name: str) -> set[str]:
        """Ids of the elevators GET /elevators returns to the named organization."""
        r = self.as_(name).get("/elevators")
        assert r.status_code == 200, r.text
        return {e["id"] for e in r.json()}


def ok(r: httpx.Response, code: int = 200) -> Any:
    assert r.status_code == code, f"{r.status_code}: {r.text}"
    return r.json()


ORGS = {
    "prop_a": ("property", None), "prop_b": ("property", None),
    "maint_1": ("maintenance", None), "maint_2": ("maintenance", None),
    "sup_d1": ("supervision", "D1"), "sup_d2": ("supervision", "D2"),
    "community_d1": ("community", "D1"), "street_d1": ("street", "D1"),
    "rescue_d1": ("rescue", "D1"), "admin_org": ("admin", None),
}


@pytest.fixture()
def world(api: str, settings: Settings) -> Iterator[World]:
    """Orgs with tokens; site 1 (D1, prop_a): E1 (maint_1), E3; site 2 (D2, prop_b): E2."""
    w = World(admin=client(api, settings.admin_token), url=api)
    for name, (kind, district) in ORGS.items():
        body = {"name": name, "kind": kind} | ({"district": district} if district else {})
        w.orgs[name] = ok(w.admin.post("/orgs", json=body), 201)["id"]
        w.tokens[name] = ok(w.admin.post(f"/orgs/{w.orgs[name]}/tokens"), 201)["token"]
    s1 = ok(w.admin.post("/sites", json={"name": "Tower", "address": "1 Riverside",
                                         "district": "D1", "property_org_id": w.orgs["prop_a"]}),
            201)["id"]
    s2 = ok(w.admin.post("/sites", json={"name": "Office", "address": "9 Market St",
                                         "district": "D2", "property_org_id": w.orgs["prop_b"]}),
            201)["id"]
    lift = {"name": "car", "rated_speed_mps": 1.75, "rated_load_kg": 1000, "min_floor": -1,
            "max_floor": 32, "travel_m": 99.0}
    ok(w.admin.post("/elevators", json=lift | {"id": "E1", "site_id": s1,
                                               "maintenance_org_id": w.orgs["maint_1"]}), 201)
    ok(w.admin.post("/elevators", json=lift | {"id": "E2", "site_id": s2,
                                               "maintenance_org_id": w.orgs["maint_2"]}), 201)
    ok(w.admin.post("/elevators", json=lift | {"id": "E3", "site_id": s1}), 201)
    yield w
    w.close()


EXPECTED = {
    "prop_a": {"E1", "E3"}, "prop_b": {"E2"}, "maint_1": {"E1"}, "maint_2": {"E2"},
    "sup_d1": {"E1", "E3"}, "sup_d2": {"E2"}, "community_d1": {"E1", "E3"},
    "street_d1": {"E1", "E3"}, "rescue_d1": {"E1", "E3"}, "admin_org": {"E1", "E2", "E3"},
}


@pytest.mark.parametrize("org", sorted(EXPECTED))
def test_each_kind_sees_exactly_its_elevators(world: World, org: str) -> None:
    assert world.visible(org) == EXPECTED[org]
    invisible = {"E1", "E2", "E3"} - EXPECTED[org]
    for eid in invisible:
        r = world.as_(org).get(f"/elevators/{eid}")
        assert r.status_code == 404, f"{org} must not see {eid}"
        assert world.as_(org).get(f"/elevators/{eid}/telemetry").status_code == 404
    for eid in EXPECTED[org]:
        body = ok(world.as_(org).get(f"/elevators/{eid}"))
        assert body["id"] == eid and body["status"] == "unknown"


def test_admin_token_sees_everything(world: World) -> None:
    assert {e["id"] for e in ok(world.admin.get("/elevators"))} == {"E1", "E2", "E3"}


def test_handover_moves_visibility_and_keeps_history(world: World) -> None:
    sup = world.as_("sup_d1")
    body = ok(sup.post("/elevators/E1/handover", json={"property_org_id": world.orgs["prop_b"]}))
    assert body["property_org_id"] == world.orgs["prop_b"]
    assert world.visible("prop_a") == {"E3"}
    assert world.visible("prop_b") == {"E1", "E2"}
    # maintenance and district views do not change with the property company
    assert world.visible("maint_1") == {"E1"}
    assert world.visible("sup_d1") == {"E1", "E3"}
    history = ok(world.admin.get("/elevators/E1"))["property_history"]
    assert [h["org_id"] for h in history] == [world.orgs["prop_a"], world.orgs["prop_b"]]
    assert history[0]["effective_to"] == history[1]["effective_from"]
    assert history[1]["recorded_by"].startswith("supervision:sup_d1")
    assert world.as_("prop_a").get("/elevators/E1").status_code == 404


def test_scheduled_handover_takes_effect_at_its_time(world: World) -> None:
    r = world.admin.post("/elevators/E3/handover", json={
        "property_org_id": world.orgs["prop_b"], "effective_at": "2099-01-01T00:00:00Z"})
    ok(r)
    assert world.visible("prop_a") == {"E1", "E3"}, "not yet effective"
    earlier = world.admin.post("/elevators/E3/handover", json={
        "property_org_id": world.orgs["prop_a"], "effective_at": "2001-01-01T00:00:00Z"})
    assert earlier.status_code == 409 and "later than the last handover" in earlier.text


def test_writes_beyond_the_role_are_403_but_invisible_is_404(world: World) -> None:
    target = {"property_org_id": world.orgs["prop_b"]}
    assert world.as_("prop_a").post("/elevators/E1/handover", json=target).status_code == 403
    assert world.as_("maint_1").post("/elevators/E1/handover", json=target).status_code == 403
    assert world.as_("sup_d2").post("/elevators/E1/handover", json=target).status_code == 404
    assert world.as_("prop_a").post("/orgs", json={"name": "x", "kind": "property"}
                                    ).status_code == 403
    assert world.as_("sup_d1").get("/ingest/rejects").status_code == 403
    assert world.as_("admin_org").get("/ingest/rejects").status_code == 200


def test_tokens_are_required_and_checked(world: World) -> None:
    assert world.as_(None).get("/elevators").status_code == 401
    world.tokens["forged"] = "not-a-token"
    assert world.as_("forged").get("/elevators").status_code == 401
    r = httpx.get(f"{world.url}/api/v1/elevators", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert httpx.get(f"{world.url}/healthz").json()["database"] == "up"


def test_bad_bodies_are_422_naming_the_field(world: World) -> None:
    r = world.admin.post("/elevators", json={"id": "bad id!", "site_id": 1, "name": "x",
                                             "rated_speed_mps": 0, "rated_load_kg": 100,
                                             "min_floor": 5, "max_floor": 1, "travel_m": 10})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"id", "rated_speed_mps", "max_floor"}
    r = world.admin.post("/orgs", json={"name": "Inspectors", "kind": "supervision"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "district"
    r = world.admin.post("/sites", json={"name": "S", "address": "A", "district": "D1",
                                         "property_org_id": world.orgs["maint_1"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "property_org_id"
    r = world.admin.post("/elevators", json={"id": "E9", "site_id": 1, "name": "x",
                                             "rated_speed_mps": 1, "rated_load_kg": 100,
                                             "min_floor": 0, "max_floor": 2, "travel_m": 6,
                                             "landings_m": [0, 3]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "landings_m"
    r = world.admin.post("/orgs", content=b"{not json", headers={"content-type":
                                                                  "application/json"})
    assert r.status_code == 422
    r = world.admin.get("/elevators", params={"limit": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = world.admin.get("/elevators/E1/telemetry", params={"bucket": "5 minutes"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bucket"


def test_duplicates_are_409(world: World) -> None:
    assert world.admin.post("/orgs", json={"name": "prop_a", "kind": "property"}
                            ).status_code == 409
    r = world.admin.post("/elevators", json={"id": "E1", "site_id": 1, "name": "x",
                                             "rated_speed_mps": 1, "rated_load_kg": 100,
                                             "min_floor": 0, "max_floor": 2, "travel_m": 6})
    assert r.status_code == 409 and "already registered" in r.json()["detail"]
    assert world.admin.post("/orgs/999999/tokens").status_code == 404


def test_lists_page_with_limit_and_offset(world: World) -> None:
    first = ok(world.admin.get("/elevators", params={"limit": 2}))
    rest = ok(world.admin.get("/elevators", params={"limit": 2, "offset": 2}))
    assert [e["id"] for e in first] == ["E1", "E2"] and [e["id"] for e in rest] == ["E3"]
    sites = ok(world.as_("maint_2").get("/sites"))
    assert [s["name"] for s in sites] == ["Office"]

