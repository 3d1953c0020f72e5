"""The dashboard's pages over HTTP (no browser): sign-in and its cookie, scoping exactly
like the API, HTML error pages instead of 500s, and nothing loaded from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from api.dashboard import STATIC_DIR
from tests.builders import World, committed, ok, raise_alert, seen

TEMPLATES = Path(STATIC_DIR).parent / "templates"


@contextmanager
def browser(url: str, token: str | None = None) -> Iterator[httpx.Client]:
    """A client that keeps cookies like a browser, signed in with the token if given."""
    with httpx.Client(base_url=url, timeout=10, follow_redirects=False) as c:
        if token is not None:
            r = c.post("/signin", data={"token": token, "next": "/"})
            assert r.status_code == 303, r.text
        yield c


def test_pages_send_you_to_sign_in_and_back(world: World):
    with browser(world.url) as c:
        for path in ("/", "/alerts", "/elevators/E1", "/supervision", "/alerts/1"):
            r = c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/signin?next=" + path.split("?")[0])
        form = c.get("/signin")
        assert form.status_code == 200 and 'name="token"' in form.text
        assert c.get("/api/v1/alerts/stream").status_code == 401


def test_sign_in_sets_an_httponly_strict_cookie_and_sign_out_clears_it(world: World):
    with browser(world.url) as c:
        bad = c.post("/signin", data={"token": "not-a-token"})
        assert bad.status_code == 401 and "unknown or has been revoked" in bad.text
        assert "whistle_token" not in bad.headers.get("set-cookie", "")
        empty = c.post("/signin", data={"token": "  "})
        assert empty.status_code == 422
        r = c.post("/signin", data={"token": world.tokens["prop_a"],
                                    "next": "/elevators/E1"})
        assert r.status_code == 303 and r.headers["location"] == "/elevators/E1"
        cookie = r.headers["set-cookie"].lower()
        assert "whistle_token=" in cookie and "httponly" in cookie
        assert "samesite=strict" in cookie and "path=/" in cookie
        assert c.get("/elevators/E1").status_code == 200
        out = c.post("/signout")
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        assert c.get("/").status_code == 303


def test_next_never_leads_to_another_site(world: World):
    with browser(world.url) as c:
        r = c.post("/signin", data={"token": world.tokens["prop_a"]},
                   headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "set-cookie" not in r.headers
        same = c.post("/signin", data={"token": world.tokens["prop_a"]},
                      headers={"Origin": world.url})
        assert same.status_code == 303
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
            r = c.post("/signin", data={"token": world.tokens["prop_a"], "next": target})
            assert r.headers["location"] == "/", target


def test_the_api_accepts_the_cookie_but_the_header_wins(world: World):
    with browser(world.url, world.tokens["prop_a"]) as c:
        mine = ok(c.get("/api/v1/elevators"))
        assert sorted(e["id"] for e in mine) == ["E1", "E3"]
        assert c.get("/api/v1/elevators/E2").status_code == 404
        # A header is used as before, whatever the cookie says.
        r = c.get("/api/v1/elevators", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = c.get("/api/v1/elevators",
                  headers={"Authorization": f"Bearer {world.tokens['prop_b']}"})
        assert [e["id"] for e in ok(r)] == ["E2"]
        assert c.get("/api/v1/elevators", headers={"Authorization": "Basic x"}
                     ).status_code == 401
    with httpx.Client(base_url=world.url, cookies={"whistle_token": "nope"}) as c:
        assert c.get("/api/v1/elevators").status_code == 401
        # A stale cookie on a page: back to sign-in, and the cookie is dropped.
        r = c.get("/alerts", follow_redirects=False)
        assert r.status_code == 303 and "expired=1" in r.headers["location"]


def test_the_fleet_is_scoped_filtered_and_counted(world: World, db):
    seen(db, "E1", "E2", "E3")
    raise_alert(db, "E1", "overspeed", "critical")
    with browser(world.url, world.tokens["prop_a"]) as c:
        page = c.get("/").text
        assert 'id="tile-E1"' in page and 'id="tile-E3"' in page
        assert 'id="tile-E2"' not in page
        assert re.search(r'id="tile-E1"[^>]*data-status="fault"', page)
        assert 'data-count="fault">1<' in page
        assert "overspeed · critical" in page
        only = c.get("/", params={"status": "fault"}).text
        assert re.search(r'id="tile-E3"[^>]*hidden', only)
        assert not re.search(r'id="tile-E1"[^>]*hidden', only)
        assert 'id="tile-E1"' not in c.get("/", params={"district": "D2"}).text
        assert c.get("/", params={"site_id": "", "status": "", "district": ""}
                     ).status_code == 200
        for params in ({"status": "broken"}, {"site_id": "x"}):
            r = c.get("/", params=params)
            assert r.status_code == 422 and "<html" in r.text, params
    with browser(world.url, world.tokens["sup_d2"]) as c:
        page = c.get("/").text
        assert 'id="tile-E2"' in page and 'id="tile-E1"' not in page


def test_elevator_and_alert_pages_are_404_pages_across_scopes(world: World, db):
    alert_id = raise_alert(db, "E1", "door_fault")
    with browser(world.url, world.tokens["prop_b"]) as c:
        for path in ("/elevators/E1", f"/alerts/{alert_id}", f"/alerts/{alert_id}/row",
                     "/elevators/NOPE", "/alerts/999999"):
            r = c.get(path)
            assert r.status_code == 404, path
            assert "text/html" in r.headers["content-type"] and "Not found" in r.text
        assert c.get("/alerts/abc").status_code == 422
        assert c.get("/elevators/" + "x" * 100).status_code == 422
    with browser(world.url, world.tokens["maint_1"]) as c:
        page = c.get(f"/alerts/{alert_id}").text
        assert "door fault" in page and "Report for duty" in page
        assert "prop_a" in page  # responsible when it happened
        assert c.get(f"/alerts/{alert_id}/row").status_code == 200


def test_the_queue_shows_severity_age_escalation_and_responsibility(world: World, db):
    t = datetime.now(UTC)
    minor = raise_alert(db, "E3", "leveling_error", "minor", at=t - timedelta(minutes=9))
    old = raise_alert(db, "E1", "power_loss", at=t - timedelta(minutes=8))
    new = raise_alert(db, "E1", "trapped_passenger", "critical", at=t - timedelta(minutes=1))
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get("/alerts").text
        order = [int(m) for m in re.findall(r'<tr id="alert-(\d+)"', page)]
        assert order == [new, old, minor]
        assert "called: prop_a, maint_1" in page
        ok(world.as_("sup_d1").post(f"/alerts/{old}/resolve", json={"note": "fixed"}))
        assert c.get(f"/alerts/{old}/row").status_code == 204
        assert "Recently resolved" in c.get("/alerts").text


def test_the_elevator_page_has_registry_history_records_and_chart_slots(world: World, db):
    ok(world.admin.post("/elevators/E1/handover", json={"property_org_id":
                                                        world.orgs["prop_b"]}))
    committed(db, "SELECT count(*) FROM elevator_property", 4)
    ok(world.as_("maint_1").post("/elevators/E1/maintenance", json={"notes": "ropes"}), 201)
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get("/elevators/E1").text
        for text in ("Property organizations over time", "prop_a", "prop_b", "maint_1",
                     "ropes", 'data-chart="position"', 'data-chart="vibration"',
                     'id="inspection-form"', "Seal: take out of service"):
            assert text in page, text
        assert 'id="maintenance-form"' not in page  # supervision does not record maintenance
    with browser(world.url, world.tokens["maint_1"]) as c:
        page = c.get("/elevators/E1").text
        assert 'id="maintenance-form"' in page and 'id="inspection-form"' not in page


def test_supervision_view_is_for_supervision_and_admin(world: World, db):
    raise_alert(db, "E1", "alarm_pressed")
    with browser(world.url, world.tokens["prop_a"]) as c:
        r = c.get("/supervision")
        assert r.status_code == 403 and "Not allowed" in r.text
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get("/supervision").text
        assert 'id="report"' in page and "prop_a" in page and "prop_b" not in page
        assert "/api/v1/reports/response?" in page and "format=csv" in page
        csv_link = re.search(r'href="(/api/v1/reports/response\?[^"]+)"', page).group(1)
        r = c.get(csv_link.replace("&amp;", "&"))
        # The page's download is in the page's language (English here); a script asking
        # the API with no language gets the machine column names.
        assert r.status_code == 200 and r.text.startswith("organization id,organization,")
        bare = c.get(re.sub(r"&lang=[^&]*", "", csv_link.replace("&amp;", "&")))
        assert bare.text.startswith("org_id,org_name")
        assert c.get("/supervision", params={"district": "D2"}).status_code == 403
        assert c.get("/supervision", params={"start": "2026-13-45"}).status_code == 422
        assert c.get("/supervision", params={"start": "2030-01-02",
                                             "end": "2030-01-01"}).status_code == 422
    with browser(world.url, world.admin_token) as c:
        page = c.get("/supervision", params={"district": "D2"}).text
        assert "prop_b" in page and "prop_a" not in page


def test_pages_load_nothing_from_elsewhere(world: World):
    with browser(world.url, world.tokens["sup_d1"]) as c:
        for path in ("/", "/alerts", "/elevators/E1", "/supervision"):
            r = c.get(path)
            assert "script-src 'self'" in r.headers["content-security-policy"]
            for ref in re.findall(r'(?:src|href)="([^"]+)"', r.text):
                assert ref.startswith(("/", "?", "#")), (path, ref)
            for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
                assert c.get(ref).status_code == 200, ref
    own = [*STATIC_DIR.glob("*.css"), *STATIC_DIR.glob("js/*.js"), *TEMPLATES.glob("*.html")]
    for f in own:
        assert not re.search(r"https?://", f.read_text()), f
    assert (STATIC_DIR / "vendor" / "uplot" / "LICENSE").is_file()


def test_the_event_stream_takes_the_cookie(world: World):
    with browser(world.url, world.tokens["prop_a"]) as c, \
            c.stream("GET", "/api/v1/alerts/stream") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        first = next(r.iter_text())
        assert "retry:" in first and ": connected" in first


def test_a_person_signs_in_with_login_and_password_and_out_again(world: World):
    ok(world.admin.post(f"/orgs/{world.orgs['prop_a']}/people", json={
        "login": "wang.li", "name": "王丽", "password": "a long password"}), 201)
    with browser(world.url) as c:
        form = c.get("/signin")
        assert 'name="login"' in form.text and 'name="password"' in form.text
        wrong = c.post("/signin", data={"login": "wang.li", "password": "not it at all"})
        unknown = c.post("/signin", data={"login": "nobody", "password": "not it at all"})
        assert wrong.status_code == unknown.status_code == 401
        assert "whistle_session" not in wrong.headers.get("set-cookie", "")
        r = c.post("/signin", data={"login": "wang.li", "password": "a long password",
                                    "next": "/cases"})
        assert r.status_code == 303 and r.headers["location"] == "/cases"
        cookie = r.headers["set-cookie"]
        assert "whistle_session=" in cookie and "HttpOnly" in cookie
        assert "王丽" in c.get("/").text  # the header names the person
        with c.stream("GET", "/api/v1/alerts/stream") as s:
            assert s.status_code == 200 and ": connected" in next(s.iter_text())
        session = c.cookies.get("whistle_session")
        assert c.post("/signout").status_code == 303
    with browser(world.url) as again:
        again.cookies.set("whistle_session", session)
        r = again.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
