"""The residents' reports (CONTRACT section 7) over real HTTP on a real database: the
JSON API without a token, its refusals and rate limits, the feedback, the report code and
the sign, and the phone pages behind the QR code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import segno

from core.settings import Settings
from storage.cases import duty, get
from tests.builders import World, ok
from tests.helpers import ApiServer


def code_of(db: psycopg.Connection, eid: str) -> str:
    return db.execute("SELECT report_code FROM elevators WHERE id = %s", (eid,)).fetchone()[0]


def case_of(db: psycopg.Connection, reference: str) -> dict[str, Any]:
    case_id = db.execute("SELECT case_id FROM case_reports WHERE reference = %s",
                         (reference,)).fetchone()[0]
    return get(db, case_id=case_id)


def resolve(db: psycopg.Connection, reference: str, cause: str = "door_system") -> None:
    """A party's work done, through the case-change seam (no case API yet)."""
    case_id = case_of(db, reference)["id"]
    with db.transaction():
        duty.lock(db, case_id=case_id)
        duty.resolve(db, case_id=case_id, actor="maintenance:maint_1", org_id=None,
                     cause=cause, note="door motor replaced")


def report(c: httpx.Client, code: str, category: str = "door", **more: Any) -> httpx.Response:
    return c.post("/public/reports", json={"code": code, "category": category, **more})


@pytest.fixture()
def public(world: World) -> httpx.Client:
    return world.as_(None)


def test_a_report_opens_a_case_and_the_next_one_joins_it(world: World, public: httpx.Client,
                                                          db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    first = ok(report(public, code, "door", description="门关不上", contact="13800000000"),
               201)
    assert len(first["reference"]) >= 16 and first["reference"].isalnum()
    assert first["follow_url"] == f"{world.url}/r/follow/{first['reference']}"
    second = ok(report(public, code, "noise"), 201)
    assert second["reference"] != first["reference"]
    case = case_of(db, first["reference"])
    assert case["id"] == case_of(db, second["reference"])["id"]
    assert case["kind"] == "fault" and case["source"] == "report"
    assert case["report_count"] == 2 and case["severity"] == "major"
    assert case["reports"][0]["description"] == "门关不上"

    rescue = ok(report(public, code, "trapped"), 201)
    rescue_case = case_of(db, rescue["reference"])
    assert rescue_case["kind"] == "rescue" and rescue_case["severity"] == "critical"
    assert rescue_case["id"] != case["id"]
    complaint = case_of(db, ok(report(public, code, "complaint"), 201)["reference"])
    assert complaint["kind"] == "complaint"

    # What the holder of the reference reads: no contact, nobody's description.
    view = ok(public.get(f"/public/reports/{first['reference']}"))
    assert set(view) == {"reference", "category", "state", "opened_at", "updated_at",
                         "parties", "resolved_at", "cause", "report_count"}
    assert view["category"] == "door" and view["state"] == "open"
    assert view["report_count"] == 2
    assert {p["kind"] for p in view["parties"]} >= {"property", "maintenance"}
    assert all(set(p) == {"org_name", "kind", "on_duty_at", "arrived_at"}
               for p in view["parties"])
    text = public.get(f"/public/reports/{first['reference']}").text
    assert "13800000000" not in text and "门关不上" not in text and "contact" not in text


def test_refusals_name_the_field(public: httpx.Client, db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    assert report(public, "NoSuchCode123456").status_code == 404
    assert report(public, "bad-code!").status_code == 422
    for body, field in (
            ({"code": code, "category": "fire"}, "category"),
            ({"code": code}, "category"),
            ({"code": code, "category": "door", "description": "x" * 1001}, "description"),
            ({"code": code, "category": "door", "contact": "1" * 65}, "contact"),
            ({"code": code, "category": "door", "extra": 1}, "extra")):
        r = public.post("/public/reports", json=body)
        assert r.status_code == 422, (body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert report(public, code, description="x" * 1000, contact="1" * 64).status_code == 201
    huge = public.post("/public/reports", content=b'{"code": "' + b"x" * 100_000 + b'"}',
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert public.get("/public/reports/NoSuchReference12345").status_code == 404
    assert public.get("/public/reports/bad-ref").status_code == 404


def test_five_reports_per_address_then_429(public: httpx.Client,
                                           db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    for _ in range(5):
        ok(report(public, code, "noise"), 201)
    refused = report(public, code, "noise")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    # Another elevator has its own budget; X-Forwarded-For from an untrusted peer is ignored.
    ok(report(public, code_of(db, "E2"), "noise"), 201)
    spoofed = public.post("/public/reports", json={"code": code, "category": "noise"},
                          headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429


@pytest.fixture()
def behind_proxy(settings: Settings, world: World) -> Iterator[httpx.Client]:
    """The app with its peer (127.0.0.1: the tests) trusted as a reverse proxy."""
    with ApiServer(settings.model_copy(update={"trusted_proxies": "127.0.0.1, ::1"})) as url, \
            httpx.Client(base_url=f"{url}/api/v1", timeout=10) as c:
        yield c


def test_forwarded_addresses_behind_a_trusted_proxy_have_their_own_budgets(
        behind_proxy: httpx.Client, db: psycopg.Connection) -> None:
    code = code_of(db, "E1")

    def from_(chain: str) -> httpx.Response:
        return behind_proxy.post("/public/reports", json={"code": code, "category": "door"},
                                 headers={"X-Forwarded-For": chain})

    for _ in range(5):
        ok(from_("198.51.100.1"), 201)
    assert from_("198.51.100.1").status_code == 429
    # A forged left-most hop does not help: the right-most untrusted hop counts.
    assert from_("10.9.9.9, 198.51.100.1").status_code == 429
    assert from_("198.51.100.1, 127.0.0.1").status_code == 429
    for _ in range(5):
        ok(from_("198.51.100.2"), 201)
    # 30 per elevator per hour from all addresses together.
    for i in range(3, 7):
        for _ in range(5):
            ok(from_(f"198.51.100.{i}"), 201)
    assert from_("198.51.100.99").status_code == 429
    assert db.execute("SELECT count(*) FROM case_reports").fetchone()[0] == 30


def test_feedback_closes_or_reopens_a_resolved_case(public: httpx.Client,
                                                    db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    ref = ok(report(public, code, "stopped"), 201)["reference"]
    early = public.post(f"/public/reports/{ref}/feedback", json={"solved": True})
    assert early.status_code == 409 and "resolved" in early.json()["detail"]
    assert public.post(f"/public/reports/{ref}/feedback",
                       json={"solved": "yes"}).status_code == 422
    assert public.post("/public/reports/NoSuchReference12345/feedback",
                       json={"solved": True}).status_code == 404

    resolve(db, ref)
    view = ok(public.get(f"/public/reports/{ref}"))
    assert view["state"] == "resolved" and view["cause"] == "door_system"
    assert view["resolved_at"] is not None
    reopened = ok(public.post(f"/public/reports/{ref}/feedback",
                              json={"solved": False, "comment": "还是停着"}))
    assert reopened["state"] == "open"
    case = case_of(db, ref)
    assert case["state"] == "open" and case["reopened"] == 1 and case["cause"] is None

    resolve(db, ref, "mechanical")
    ok(public.post(f"/public/reports/{ref}/feedback", json={"solved": True}))
    case = case_of(db, ref)
    assert case["state"] == "closed" and case["closed_by"] == "resident"
    assert public.post(f"/public/reports/{ref}/feedback",
                       json={"solved": True}).status_code == 409


def test_the_report_code_is_shown_to_those_who_see_it_and_replaced(
        world: World, db: psycopg.Connection) -> None:
    old = code_of(db, "E1")
    assert ok(world.as_("prop_a").get("/elevators/E1"))["report_code"] == old
    assert ok(world.as_("sup_d1").get("/elevators/E1"))["report_code"] == old
    assert world.as_("prop_b").get("/elevators/E1").status_code == 404
    assert "report_code" not in ok(world.as_("prop_a").get("/elevators"))[0]
    # Only admin and the elevator's property organization replace it.
    assert world.as_("maint_1").post("/elevators/E1/report-code").status_code == 403
    assert world.as_("sup_d1").post("/elevators/E1/report-code").status_code == 403
    assert world.as_("prop_b").post("/elevators/E1/report-code").status_code == 404
    assert world.as_(None).post("/elevators/E1/report-code").status_code == 401
    new = ok(world.as_("prop_a").post("/elevators/E1/report-code"))["report_code"]
    assert re.fullmatch(r"[A-Za-z0-9]{16}", new) and new != old
    assert code_of(db, "E1") == new
    assert report(world.as_(None), old).status_code == 404
    assert httpx.get(f"{world.url}/r/{old}").status_code == 404
    assert report(world.as_(None), new).status_code == 201
    again = ok(world.admin.post("/elevators/E1/report-code"))["report_code"]
    assert again not in (old, new)


def qr_path(svg: str) -> str:
    """The dark modules of the (first) QR code of a page: segno's path with a stroke."""
    found = re.search(r'stroke="#000" d="([^"]+)"', svg)
    assert found, svg[:500]
    return found.group(1)


def test_the_sign_carries_the_qr_code_of_the_report_url(world: World,
                                                       db: psycopg.Connection) -> None:
    e = world.elevator("E9", "S1", maintenance="maint_1", rescue_code="12345",
                       registration_code="3101" + "0" * 16, name="1号楼 2单元 客梯")
    code = code_of(db, "E9")
    url = f"{world.url}/r/{code}"
    page = world.as_("maint_1").get("/elevators/E9/sign")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<svg" in html and url in html and "12345" in html and "96333" in html
    assert "1号楼 2单元 客梯" in html and e["registration_code"] in html
    assert "<script" not in html and "@page" in html
    # The QR code says the report URL: segno draws the same symbol for it.
    expected = segno.make(url, error="m", micro=False).svg_inline(scale=8, border=2)
    assert qr_path(html) == qr_path(expected)

    svg = world.as_("sup_d1").get("/elevators/E9/sign", params={"format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and url in svg.text and "12345" in svg.text
    assert qr_path(svg.text) == qr_path(
        segno.make(url, error="m", micro=False).svg_inline(scale=1, border=2))
    assert world.as_("prop_b").get("/elevators/E9/sign").status_code == 404
    assert world.as_("maint_1").get("/elevators/E9/sign",
                                    params={"format": "pdf"}).status_code == 422


def test_the_sign_prints_the_configured_public_url(settings: Settings, world: World,
                                                   db: psycopg.Connection) -> None:
    public_url = "https://whistle.example.org/city"
    with ApiServer(settings.model_copy(update={"public_url": public_url})) as url:
        r = httpx.get(f"{url}/api/v1/elevators/E1/sign",
                      headers={"Authorization": f"Bearer {world.tokens['prop_a']}"})
        assert f"{public_url}/r/{code_of(db, 'E1')}" in r.text
        made = httpx.post(f"{url}/api/v1/public/reports",
                          json={"code": code_of(db, "E1"), "category": "other"})
        assert made.json()["follow_url"].startswith(f"{public_url}/r/follow/")


def test_the_settings_and_the_right_most_untrusted_hop() -> None:
    from api.public.client import forwarded_for

    s = Settings(trusted_proxies="10.0.0.0/8, 127.0.0.1", public_url="https://w.example/x/")
    assert s.public_url == "https://w.example/x"
    nets = s.trusted_networks
    assert forwarded_for("192.0.2.7", ["198.51.100.1"], nets) == "192.0.2.7"
    assert forwarded_for("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], nets) \
        == "198.51.100.1"
    assert forwarded_for("127.0.0.1", ["6.6.6.6", "198.51.100.1"], nets) == "198.51.100.1"
    assert forwarded_for("127.0.0.1", [], nets) == "127.0.0.1"
    assert forwarded_for("127.0.0.1", ["10.0.0.1"], nets) == "10.0.0.1"
    with pytest.raises(ValueError, match="WHISTLE_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.local")
    with pytest.raises(ValueError, match="WHISTLE_PUBLIC_URL"):
        Settings(public_url="whistle.example")
