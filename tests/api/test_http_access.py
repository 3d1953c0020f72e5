"""Hardening of the HTTP side, access: cookie writes from other sites (403), the Secure
sign-in cookie, what GET /sites shows, who may resolve a critical alert, handovers in the
past. Real server, real PostgreSQL."""

from __future__ import annotations

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
