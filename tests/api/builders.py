"""Builders for tests: organizations with tokens, sites and elevators, through the real
HTTP API (:class:`World`) or straight into the database (:func:`seed_fleet`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import psycopg

from core.domain import OrgKind, default_landings
from storage import registry

# name -> (kind, district)
ORGS: dict[str, tuple[str, str | None]] = {
    "prop_a": ("property", None), "prop_b": ("property", None),
    "maint_1": ("maintenance", None), "maint_2": ("maintenance", None),
    "sup_d1": ("supervision", "D1"), "sup_d2": ("supervision", "D2"),
    "community_d1": ("community", "D1"), "street_d1": ("street", "D1"),
    "rescue_d1": ("rescue", "D1"),
}


def client(url: str, token: str | None) -> httpx.Client:
    """An HTTP client for /api/v1 with a bearer token (None: no token)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=10)


def ok(r: httpx.Response, code: int = 200) -> Any:
    """The JSON body, after checking the status code."""
    assert r.status_code == code, f"{r.request.method} {r.request.url}: {r.status_code}: {r.text}"
    return r.json() if r.content else None


@dataclass
class World:
    """Organizations (with tokens), sites and elevators made through the API."""

    url: str
    admin_token: str
    orgs: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    _clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    @property
    def admin(self) -> httpx.Client:
        """The admin client."""
        if "__admin__" not in self._clients:
            self._clients["__admin__"] = client(self.url, self.admin_token)
        return self._clients["__admin__"]

    def as_(self, name: str | None) -> httpx.Client:
        """A client with the named organization's token (None: without a token)."""
        if name not in self._clients:
            self._clients[name] = client(self.url, self.tokens[name] if name else None)
        return self._clients[name]

    def org(self, name: str, kind: str, district: str | None = None) -> int:
        """Create an organization and a token for it."""
        body = {"name": name, "kind": kind} | ({"district": district} if district else {})
        self.orgs[name] = ok(self.admin.post("/orgs", json=body), 201)["id"]
        self.tokens[name] = ok(self.admin.post(f"/orgs/{self.orgs[name]}/tokens"),
                               201)["token"]
        return self.orgs[name]

    def site(self, name: str, district: str, property_org: str) -> int:
        """Create a site."""
        self.sites[name] = ok(self.admin.post("/sites", json={
            "name": name, "address": f"{name} street 1", "district": district,
            "property_org_id": self.orgs[property_org]}), 201)["id"]
        return self.sites[name]

    def elevator(self, elevator_id: str, site: str, *, maintenance: str | None = None,
                 next_inspection_due: date | None = None, floors: int = 5) -> dict[str, Any]:
        """Register an elevator."""
        body: dict[str, Any] = {
            "id": elevator_id, "site_id": self.sites[site], "name": f"Lift {elevator_id}",
            "rated_speed_mps": 1.0, "rated_load_kg": 630, "min_floor": 0,
            "max_floor": floors - 1, "travel_m": 3.0 * (floors - 1)}
        if maintenance:
            body["maintenance_org_id"] = self.orgs[maintenance]
        if next_inspection_due:
            body["next_inspection_due"] = next_inspection_due.isoformat()
        return ok(self.admin.post("/elevators", json=body), 201)

    def close(self) -> None:
        """Close every client."""
        for c in self._clients.values():
            c.close()


def standard_world(url: str, admin_token: str, conn: psycopg.Connection) -> World:
    """Every kind of organization with a token; site S1 (D1, prop_a) with E1 (maint_1) and
    E3, site S2 (D2, prop_b) with E2 (maint_2). Written straight into the database (fast,
    and committed before the first request); World.org/site/elevator go through the API."""
    w = World(url=url, admin_token=admin_token)
    fleet = seed_fleet(conn)
    w.orgs.update(fleet.orgs)
    w.sites.update(fleet.sites)
    for name, org_id in fleet.orgs.items():
        w.tokens[name] = registry.create_token(conn, org_id=org_id, label="test")["token"]
    return w


@dataclass
class Fleet:
    """Organizations, sites and elevators written straight into the database."""

    orgs: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    pks: dict[str, int] = field(default_factory=dict)

    def add_elevator(self, conn: psycopg.Connection, elevator_id: str, site: str, *,
                     maintenance: str | None = None,
                     next_inspection_due: date | None = None) -> int:
        """Register one more elevator; its pk."""
        row = registry.create_elevator(
            conn, recorded_by="test", id=elevator_id, site_id=self.sites[site],
            name=elevator_id, rated_speed_mps=1.0, rated_load_kg=630, min_floor=0,
            max_floor=4, travel_m=12.0, landings_m=default_landings(0, 4, 12.0), model=None,
            maintenance_org_id=self.orgs[maintenance] if maintenance else None,
            next_inspection_due=next_inspection_due)
        self.pks[elevator_id] = row["pk"]
        return int(row["pk"])


def seed_fleet(conn: psycopg.Connection) -> Fleet:
    """The standard world of :func:`standard_world`, without the API."""
    f = Fleet()
    for name, (kind, district) in ORGS.items():
        f.orgs[name] = registry.create_org(conn, name=name, kind=OrgKind(kind),
                                           district=district)["id"]
    for name, district, prop in (("S1", "D1", "prop_a"), ("S2", "D2", "prop_b")):
        f.sites[name] = registry.create_site(conn, name=name, address=f"{name} street 1",
                                             district=district,
                                             property_org_id=f.orgs[prop])["id"]
    f.add_elevator(conn, "E1", "S1", maintenance="maint_1")
    f.add_elevator(conn, "E2", "S2", maintenance="maint_2")
    f.add_elevator(conn, "E3", "S1")
    return f
