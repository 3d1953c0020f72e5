"""Register a simulated fleet through the HTTP API (CONTRACT section 3) with an admin token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

PROPERTY_ORG = "Whistle simulator property management"
MAINTENANCE_ORG = "Whistle simulator lift maintenance"


class RegistrationError(RuntimeError):
    """The API refused part of the registration."""


@dataclass
class Registration:
    """What was created (or found already there)."""

    property_org_id: Any
    maintenance_org_id: Any
    site_ids: dict[str, Any] = field(default_factory=dict)  # site key -> site id
    created: list[str] = field(default_factory=list)  # elevator ids
    existing: list[str] = field(default_factory=list)


def _check(resp: httpx.Response, what: str) -> dict[str, Any]:
    if resp.status_code >= 400:
        raise RegistrationError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    return resp.json()  # type: ignore[no-any-return]


def _find(client: httpx.Client, path: str, name: str) -> Any:
    """Id of an existing object by name, via the list endpoint if the API has one."""
    resp = client.get(path, params={"limit": 1000})
    if resp.status_code == 200:
        for obj in resp.json():
            if obj.get("name") == name:
                return obj["id"]
    raise RegistrationError(f"{path} {name!r} already exists and its id cannot be looked up; "
                            "pass its id explicitly")


def _create(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    resp = client.post(path, json=body)
    if resp.status_code == 409:
        return _find(client, path, str(body["name"]))
    return _check(resp, f"POST {path} {body.get('name')!r}")["id"]


def register(api_url: str, token: str, fleet_registry: dict[str, list[dict[str, Any]]], *,
             property_org_id: Any = None, maintenance_org_id: Any = None,
             district: str | None = None, client: httpx.Client | None = None,
             timeout: float = 30.0) -> Registration:
    """Create the organizations (unless given), sites and elevators; 409 means already there."""
    own = client is None
    http = client or httpx.Client(base_url=api_url.rstrip("/") + "/api/v1", timeout=timeout)
    http.headers["Authorization"] = f"Bearer {token}"
    try:
        sites = fleet_registry["sites"]
        district = district or (sites[0]["district"] if sites else None)
        if property_org_id is None:
            property_org_id = _create(http, "/orgs", {"name": PROPERTY_ORG, "kind": "property",
                                                      "district": district})
        if maintenance_org_id is None:
            maintenance_org_id = _create(http, "/orgs", {
                "name": MAINTENANCE_ORG, "kind": "maintenance", "district": district})
        reg = Registration(property_org_id, maintenance_org_id)
        for site in sites:
            body = {k: v for k, v in site.items() if k != "key"}
            body["property_org_id"] = property_org_id
            reg.site_ids[site["key"]] = _create(http, "/sites", body)
        for elevator in fleet_registry["elevators"]:
            body = {k: v for k, v in elevator.items() if k != "site_key"}
            body["site_id"] = reg.site_ids[elevator["site_key"]]
            body["maintenance_org_id"] = maintenance_org_id
            resp = http.post("/elevators", json=body)
            if resp.status_code == 409:
                reg.existing.append(elevator["id"])
            else:
                _check(resp, f"POST /elevators {elevator['id']}")
                reg.created.append(elevator["id"])
        return reg
    finally:
        if own:
            http.close()
