"""Hardening of the HTTP side, access: cookie writes from other sites (403), the Secure
sign-in cookie, what GET /sites shows, who may resolve a critical alert, handovers in the
past. Real server, real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import psycopg

from api.deps import TOKEN_COOKIE
from tests.builders import World, ok, raise_alert


def _cookie_client(world: World, org: str) -> httpx.Client:
    """A browser-like client signed in with the dashboard's cookie (no Authorization)."""
    return httpx.Client(base_url=f"{world.url}/api/v1", timeout=10,
                        cookies={TOKEN_COOKIE: world.tokens[org]})


def test_a_cross_site_write_with_the_cookie_is_refused(world: World, db: psycopg.Connection):
    own = f"http://{urlsplit(world.url).netloc}"
    alert_id = raise_alert(db, "E1")
    with _cookie_client(world, "prop_a") as browser:
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                        {"Referer": "https://evil.example/page"}):
            r = browser.post(f"/alerts/{alert_id}/ack", json={}, headers=headers)
            assert r.status_code == 403, (headers, r.text)
            assert "Origin" in r.json()["detail"]
        assert ok(browser.get(f"/alerts/{alert_id}"))["state"] == "open"
        # Reading with the cookie from anywhere still works; writing from our own pages too.
        assert browser.get("/elevators", headers={"Origin": "https://evil.example"}
                           ).status_code == 200
        r = browser.post(f"/alerts/{alert_id}/ack", json={}, headers={
            "Origin": own, "Referer": f"{own}/alerts"})
        assert ok(r)["state"] == "acknowledged"
    # A bearer token is never sent by a browser on its own: no Origin check for it.
    other = raise_alert(db, "E3")
    r = world.as_("prop_a").post(f"/alerts/{other}/ack", json={},
                                 headers={"Origin": "https://evil.example"})
    assert ok(r)["state"] == "acknowledged"


def test_the_sign_in_cookie_is_secure_unless_the_request_came_to_loopback(world: World):
    form = {"token": world.tokens["prop_a"], "next": "/"}
    with httpx.Client(base_url=world.url, timeout=10) as browser:
        local = browser.post("/signin", data=form)
        assert local.status_code == 303
        assert TOKEN_COOKIE in local.headers["set-cookie"]
        assert "secure" not in local.headers["set-cookie"].lower()
        public = browser.post("/signin", data=form, headers={"Host": "whistle.example.org"})
        assert public.status_code == 303
        assert "secure" in public.headers["set-cookie"].lower()


def test_sites_count_only_visible_elevators_and_hide_other_orgs_ids(world: World):
    def sites(org: str | None) -> dict[str, tuple[int, int | None]]:
        c = world.admin if org is None else world.as_(org)
        return {s["name"]: (s["elevators"], s["property_org_id"]) for s in ok(c.get("/sites"))}

    prop_a, prop_b = world.orgs["prop_a"], world.orgs["prop_b"]
    assert sites(None) == {"S1": (2, prop_a), "S2": (1, prop_b)}
    assert sites("prop_a") == {"S1": (2, prop_a)}
    assert sites("maint_1") == {"S1": (1, None)}  # E1 only; prop_a's id is not its to know
    assert sites("maint_2") == {"S2": (1, None)}
    for district_office in ("sup_d1", "community_d1", "street_d1", "rescue_d1"):
        assert sites(district_office) == {"S1": (2, None)}
    assert sites("sup_d2") == {"S2": (1, None)}


def test_a_critical_alert_is_resolved_by_hand_only_by_those_responsible(
        world: World, db: psycopg.Connection):
    critical = raise_alert(db, "E1", kind="trapped_passenger", severity="critical")
    note = {"note": "car brought to the landing"}
    for office in ("community_d1", "street_d1", "rescue_d1"):
        r = world.as_(office).post(f"/alerts/{critical}/resolve", json=note)
        assert r.status_code == 403, (office, r.text)
    # They still report for duty.
    assert ok(world.as_("street_d1").post(f"/alerts/{critical}/ack",
                                          json={"note": "on our way"}))["state"] == \
        "acknowledged"
    assert ok(world.as_("sup_d1").post(f"/alerts/{critical}/resolve", json=note))["state"] == \
        "resolved"
    for org in ("prop_a", "maint_1"):
        again = raise_alert(db, "E1", kind="trapped_passenger", severity="critical")
        assert ok(world.as_(org).post(f"/alerts/{again}/resolve", json=note))["state"] == \
            "resolved"
    # Below critical, every organization that sees the alert may resolve it.
    major = raise_alert(db, "E3", kind="power_loss", severity="major")
    assert ok(world.as_("community_d1").post(f"/alerts/{major}/resolve",
                                             json=note))["state"] == "resolved"


def test_a_handover_more_than_5_minutes_back_is_for_admins_only(
        world: World, db: psycopg.Connection):
    db.execute("UPDATE elevator_property SET effective_from = now() - interval '2 days'")
    now = datetime.now(UTC)
    target = {"property_org_id": world.orgs["prop_b"]}
    r = world.as_("sup_d1").post("/elevators/E1/handover", json=target | {
        "effective_at": (now - timedelta(minutes=10)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_at"
    moved = ok(world.as_("sup_d1").post("/elevators/E1/handover", json=target | {
        "effective_at": (now - timedelta(minutes=2)).isoformat()}))
    assert moved["property_org_id"] == world.orgs["prop_b"]
    moved = ok(world.admin.post("/elevators/E3/handover", json=target | {
        "effective_at": (now - timedelta(days=1)).isoformat()}))
    assert moved["property_org_id"] == world.orgs["prop_b"]
