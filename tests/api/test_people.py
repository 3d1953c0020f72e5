"""People, tokens and sessions through the real API (CONTRACT section 5): managers and
admins create and remove, other organizations get 404 and non-managers 403; sign-in with
one message for both failures and the per-login lock-out; revocation, expiry and removal
acting at once; the audit trail naming the person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.builders import World, client, ok, raise_alert

PASSWORD = "correct horse battery"
OPENED: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def anonymous(world: World, **kw) -> httpx.Client:
    c = httpx.Client(base_url=f"{world.url}/api/v1", timeout=10, **kw)
    OPENED.append(c)
    return c


def token_client(world: World, token: str) -> httpx.Client:
    c = client(world.url, token)
    OPENED.append(c)
    return c


def person(world: World, org: str, login: str, *, manager: bool = False,
           by: httpx.Client | None = None) -> dict:
    body = {"login": login, "name": f"Wang {login}", "password": PASSWORD,
            "phone": "13800000000", "manager": manager}
    return ok((by or world.admin).post(f"/orgs/{world.orgs[org]}/people", json=body), 201)


def session(world: World, login: str, password: str = PASSWORD) -> httpx.Client:
    c = anonymous(world)
    r = c.post("/session", json={"login": login, "password": password})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == f"Wang {login}"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    return c


def test_a_manager_creates_people_and_tokens_of_its_own_organization_only(world: World):
    boss = person(world, "prop_a", "boss", manager=True)
    assert set(boss) == {"id", "org_id", "login", "name", "phone", "manager", "created_at"}
    manager = session(world, "boss")
    clerk = person(world, "prop_a", "clerk", by=manager)
    assert clerk["org_id"] == world.orgs["prop_a"] and not clerk["manager"]
    people = ok(manager.get(f"/orgs/{world.orgs['prop_a']}/people"))
    assert [p["login"] for p in people] == ["boss", "clerk"]
    assert all("password" not in p and "password_hash" not in p for p in people)
    # another organization's people: 404 for people and tokens of other orgs
    other = world.orgs["prop_b"]
    for method, path in (("get", f"/orgs/{other}/people"), ("get", f"/orgs/{other}/tokens"),
                         ("post", f"/orgs/{other}/tokens"),
                         ("delete", f"/orgs/{other}/people/1")):
        assert getattr(manager, method)(path).status_code == 404, path
    # a non-manager of the organization: reads its people, may not write: 403
    plain = session(world, "clerk")
    assert len(ok(plain.get(f"/orgs/{world.orgs['prop_a']}/people"))) == 2
    r = plain.post(f"/orgs/{world.orgs['prop_a']}/people",
                   json={"login": "x1", "name": "x", "password": PASSWORD})
    assert r.status_code == 403
    assert plain.post(f"/orgs/{world.orgs['prop_a']}/tokens").status_code == 403
    assert world.as_("prop_a").post(f"/orgs/{world.orgs['prop_a']}/tokens").status_code == 403
    # a token belonging to the clerk, created by the manager
    made = ok(manager.post(f"/orgs/{world.orgs['prop_a']}/tokens",
                           json={"label": "phone", "person_id": clerk["id"]}), 201)
    assert set(made) >= {"id", "token", "label", "person_id", "expires_at", "manager"}
    me = ok(token_client(world, made["token"]).get("/me"))
    assert (me["name"], me["token_label"], me["person_id"]) == ("Wang clerk", "phone",
                                                                 clerk["id"])


def test_bad_bodies_are_422_and_a_taken_login_409(world: World):
    org = world.orgs["prop_a"]
    for body, field in (({"login": "a", "name": "A", "password": "short"}, "password"),
                        ({"login": "has space", "name": "A", "password": PASSWORD}, "login"),
                        ({"name": "A", "password": PASSWORD}, "login"),
                        ({"login": "a", "name": "A", "password": PASSWORD, "admin": True},
                         "admin")):
        r = world.admin.post(f"/orgs/{org}/people", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    person(world, "prop_a", "dup")
    assert world.admin.post(f"/orgs/{world.orgs['prop_b']}/people", json={
        "login": "DUP", "name": "x", "password": PASSWORD}).status_code == 409
    r = world.admin.post(f"/orgs/{org}/tokens", json={
        "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"
    r = world.admin.post(f"/orgs/{org}/tokens", json={"person_id": 999})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id"


def test_sign_in_one_message_for_both_failures_then_locked_out(world: World):
    person(world, "prop_a", "lina")
    anon = anonymous(world)
    wrong = anon.post("/session", json={"login": "lina", "password": "not the password"})
    unknown = anon.post("/session", json={"login": "nobody", "password": "whatever12"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    for _ in range(4):
        assert anon.post("/session", json={"login": "lina", "password": "nope nope"}
                         ).status_code == 401
    locked = anon.post("/session", json={"login": "lina", "password": PASSWORD})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 600
    # another login is not locked
    person(world, "prop_a", "zhou")
    session(world, "zhou")


def test_sign_out_ends_the_session_on_the_server(world: World):
    person(world, "maint_1", "tech")
    c = session(world, "tech")
    assert ok(c.get("/me"))["name"] == "Wang tech"
    stolen = c.cookies.get("whistle_session")
    assert c.delete("/session").status_code == 204
    replay = anonymous(world, cookies={"whistle_session": stolen})
    assert replay.get("/me").status_code == 401


def test_revocation_expiry_and_removal_act_at_once(world: World):
    org = world.orgs["maint_1"]
    made = ok(world.admin.post(f"/orgs/{org}/tokens", json={"label": "tablet"}), 201)
    tablet = token_client(world, made["token"])
    assert ok(tablet.get("/alerts")) == []
    listed = ok(world.admin.get(f"/orgs/{org}/tokens"))
    row = next(t for t in listed if t["id"] == made["id"])
    assert row["last_used_at"] is not None and "token" not in row
    assert world.admin.delete(f"/orgs/{org}/tokens/{made['id']}").status_code == 204
    assert tablet.get("/alerts").status_code == 401  # the very next request
    assert world.admin.delete(f"/orgs/{org}/tokens/{made['id']}").status_code == 404
    # an expired token
    soon = datetime.now(UTC) + timedelta(seconds=2)
    short = ok(world.admin.post(f"/orgs/{org}/tokens", json={"expires_at": soon.isoformat()}),
               201)
    short_client = token_client(world, short["token"])
    assert short_client.get("/me").status_code == 200
    from tests.helpers import wait_until
    wait_until(lambda: short_client.get("/me").status_code == 401, timeout=10)
    assert datetime.now(UTC) >= soon
    # removing a person: their session and their token stop working at once
    p = person(world, "maint_1", "leaver")
    c = session(world, "leaver")
    own = ok(world.admin.post(f"/orgs/{org}/tokens", json={"person_id": p["id"]}), 201)
    assert world.admin.delete(f"/orgs/{org}/people/{p['id']}").status_code == 204
    assert c.get("/me").status_code == 401
    assert token_client(world, own["token"]).get("/me").status_code == 401
    assert anonymous(world).post("/session", json={"login": "leaver", "password": PASSWORD}
                                 ).status_code == 401


def test_the_audit_trail_names_the_person_and_the_admin_token(world: World, db):
    person(world, "prop_a", "wangli")
    c = session(world, "wangli")
    alert_id = raise_alert(db, "E1", "power_loss")
    acked = ok(c.post(f"/alerts/{alert_id}/ack"))
    assert acked["acknowledged_by"] == "property:prop_a/Wang wangli"
    case = ok(c.get(f"/cases/{acked['case_id']}"))
    mine = next(p for p in case["parties"] if p["org_name"] == "prop_a")
    assert mine["on_duty_by"] == "property:prop_a/Wang wangli"
    assert ok(world.admin.get("/me"))["actor"] == "admin:admin/WHISTLE_ADMIN_TOKEN"
    assert ok(world.as_("prop_a").get("/me"))["actor"] == "property:prop_a/test"
