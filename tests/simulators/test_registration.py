"""Registration speaks the contract's HTTP API: orgs, sites, elevators; 409 is fine."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from simulators.fleet import Fleet, FleetConfig
from simulators.registration import RegistrationError, register

SITE_FIELDS = {"name", "address", "district", "property_org_id"}
ELEVATOR_FIELDS = {"id", "site_id", "name", "rated_speed_mps", "rated_load_kg", "min_floor",
                   "max_floor", "travel_m", "landings_m", "model", "maintenance_org_id",
                   "next_inspection_due"}


class FakeApi:
    """Just enough of CONTRACT section 3 to check what registration sends."""

    def __init__(self, existing: set[str] = frozenset()) -> None:
        self.orgs: list[dict[str, Any]] = []
        self.sites: list[dict[str, Any]] = []
        self.elevators: dict[str, dict[str, Any]] = {e: {} for e in existing}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer admin-token"
        body = json.loads(request.content) if request.content else {}
        path = request.url.path
        if path == "/api/v1/orgs":
            self.orgs.append({**body, "id": len(self.orgs) + 1})
            return httpx.Response(201, json=self.orgs[-1])
        if path == "/api/v1/sites":
            assert set(body) == SITE_FIELDS
            self.sites.append({**body, "id": 100 + len(self.sites)})
            return httpx.Response(201, json=self.sites[-1])
        if path == "/api/v1/elevators":
            assert set(body) <= ELEVATOR_FIELDS and {"id", "site_id"} <= set(body)
            assert len(body["landings_m"]) == body["max_floor"] - body["min_floor"] + 1
            assert body["landings_m"][-1] == body["travel_m"]
            if body["id"] in self.elevators:
                return httpx.Response(409, json={"detail": "exists"})
            self.elevators[body["id"]] = body
            return httpx.Response(201, json=body)
        return httpx.Response(404)


def _client(api: FakeApi) -> httpx.Client:
    return httpx.Client(base_url="http://api.test/api/v1", transport=httpx.MockTransport(api))


def test_register_creates_orgs_sites_and_elevators() -> None:
    fleet = Fleet(FleetConfig(elevators=7, seed=1))
    api = FakeApi(existing={"E0002"})
    reg = register("http://api.test", "admin-token", fleet.registry(), client=_client(api))
    assert [o["kind"] for o in api.orgs] == ["property", "maintenance"]
    assert len(api.sites) == len(fleet.layout.sites) == 2
    assert all(s["property_org_id"] == reg.property_org_id for s in api.sites)
    assert reg.existing == ["E0002"] and len(reg.created) == 6
    e7 = api.elevators["E0007"]
    assert e7["site_id"] == reg.site_ids[fleet.layout.elevators[6].site_key]
    assert e7["maintenance_org_id"] == reg.maintenance_org_id


def test_given_orgs_are_used_and_errors_are_reported() -> None:
    fleet = Fleet(FleetConfig(elevators=2, seed=1))
    api = FakeApi()
    register("http://api.test", "admin-token", fleet.registry(), property_org_id=41,
             maintenance_org_id=42, client=_client(api))
    assert api.orgs == [] and {s["property_org_id"] for s in api.sites} == {41}

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": "district missing"})

    client = httpx.Client(base_url="http://api.test/api/v1",
                          transport=httpx.MockTransport(refuse))
    with pytest.raises(RegistrationError, match="422"):
        register("http://api.test", "admin-token", fleet.registry(), client=client)
