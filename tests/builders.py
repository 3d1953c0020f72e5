"""Every builder of the tests, in one place: organizations with tokens, sites and
elevators through the real HTTP API (:class:`World`) or straight into the database
(:func:`seed_fleet`, :func:`register_fleet`); samples; alerts raised through the rules
lifecycle; the state and telemetry a fleet would have written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg

from core.domain import OrgKind, default_landings
from rules import lifecycle
from rules.policy import Rescue
from rules.transitions import Transition
from storage import registry
from tests.helpers import free_name, wait_until

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
                 next_inspection_due: date | None = None, floors: int = 5,
                 **fields: Any) -> dict[str, Any]:
        """Register an elevator (fields: more of POST /elevators, e.g. rescue_code)."""
        body: dict[str, Any] = {
            "id": elevator_id, "site_id": self.sites[site], "name": f"Lift {elevator_id}",
            "rated_speed_mps": 1.0, "rated_load_kg": 630, "min_floor": 0,
            "max_floor": floors - 1, "travel_m": 3.0 * (floors - 1)}
        if maintenance:
            body["maintenance_org_id"] = self.orgs[maintenance]
        if next_inspection_due:
            body["next_inspection_due"] = next_inspection_due.isoformat()
        return ok(self.admin.post("/elevators", json=body | fields), 201)

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


def register_fleet(conn: Any, ids: list[str], *, district: str = "D1",
                   rated_load_kg: float = 1000.0, travel_m: float = 60.0,
                   min_floor: int = 0, max_floor: int = 20) -> dict[str, int]:
    """Register elevators (with an org and a site) straight through storage; id -> pk."""
    org = registry.create_org(conn, name=free_name("property"), kind=OrgKind.PROPERTY,
                              district=None)
    site = registry.create_site(conn, name=free_name("site"), address="1 Test Road",
                                district=district, property_org_id=org["id"])
    pks = {}
    for eid in ids:
        row = registry.create_elevator(
            conn, recorded_by="test", id=eid, site_id=site["id"], name=eid,
            rated_speed_mps=1.75, rated_load_kg=rated_load_kg, min_floor=min_floor,
            max_floor=max_floor, travel_m=travel_m,
            landings_m=default_landings(min_floor, max_floor, travel_m), model=None,
            maintenance_org_id=None, next_inspection_due=None)
        pks[eid] = row["pk"]
    return pks


def sample(ts_ms: int, seq: int | None = None, **fields: Any) -> dict[str, Any]:
    """A valid telemetry sample; keyword arguments override or add fields."""
    s: dict[str, Any] = {"ts": ts_ms, "floor": 3, "pos_m": 9.0, "speed_mps": 0.0,
                         "door": "closed", "door_lock": True, "safety_chain": True,
                         "load_kg": 150.0, "occupied": True, "alarm": False,
                         "motor_temp_c": 41.0, "power": "mains", "mode": "normal"}
    if seq is not None:
        s["seq"] = seq
    s.update(fields)
    return s


def raise_alerts(db: psycopg.Connection, eids: list[str], kind: str = "power_loss",
                 severity: str = "major", at: datetime | None = None,
                 details: dict[str, Any] | None = None) -> list[int]:
    """Open alerts, raised through the rules lifecycle as the service would; their ids."""
    now = at or datetime.now(UTC)
    pks = dict(db.execute("SELECT id, pk FROM elevators WHERE id = ANY(%s)",
                          (eids,)).fetchall())
    done = lifecycle.apply(db, transitions=[
        Transition(e, pks[e], kind, "raise", int(now.timestamp() * 1e6), severity,
                   details or {}) for e in eids], now=now, rescue=Rescue())
    return [d.alert_id for d in done]


def raise_alert(db: psycopg.Connection, eid: str, kind: str = "power_loss",
                severity: str = "major", at: datetime | None = None,
                minutes_ago: float | None = None,
                details: dict[str, Any] | None = None) -> int:
    """One open alert (see :func:`raise_alerts`); at or minutes_ago dates it."""
    if minutes_ago is not None:
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    [alert_id] = raise_alerts(db, [eid], kind, severity, at, details)
    return alert_id


def seen(db: psycopg.Connection, *ids: str) -> None:
    """The elevators reported just now (their status is no longer unknown)."""
    db.execute(
        "INSERT INTO elevator_state (elevator_pk, last_seen, data_at, last_ts, latest, "
        "connection) SELECT pk, now(), now(), now(), "
        "'{\"floor\": 2, \"door\": \"closed\", \"speed_mps\": 0}', 'online' "
        "FROM elevators WHERE id = ANY(%s) "
        "ON CONFLICT (elevator_pk) DO UPDATE SET last_seen = now()", (list(ids),))


def committed(db: psycopg.Connection, query: str, expected: int) -> None:
    """Wait for a write of the API to be visible to another connection."""
    wait_until(lambda: db.execute(query).fetchone()[0] == expected, 10,
               message=f"{query} to be {expected}")


def telemetry(db: psycopg.Connection, eid: str, *, hours: float = 2, every_s: int = 10) -> int:
    """Samples over the last hours: the car going up and down, load, heat, vibration."""
    n = int(hours * 3600 / every_s)
    db.execute(
        "INSERT INTO telemetry (elevator_pk, ts, seq, floor, pos_m, speed_mps, door, load_kg, "
        "motor_temp_c, vib_rms, level_mm) "
        "SELECT e.pk, now() - make_interval(secs => i * %(every)s), %(n)s - i, (i / 6) %% 5, "
        "3.0 * ((i / 6) %% 5) + sin(i) * 0.4, sin(i / 3.0) * 1.2, "
        "CASE WHEN i %% 6 = 0 THEN 2 ELSE 0 END, 80 + (i * 37) %% 400, "
        "45 + 10 * sin(i / 90.0), 0.04 + ((i * 13) %% 20) / 400.0, 2 "
        "FROM elevators e, generate_series(0, %(n)s) i WHERE e.id = %(eid)s",
        {"every": every_s, "n": n, "eid": eid})
    return n + 1
