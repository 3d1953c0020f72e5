"""Identifiers of Chinese practice (CONTRACT section 9): registration and rescue codes,
their uniqueness, and the search that finds an elevator by either."""

from __future__ import annotations

from tests.builders import World, ok

LIFT = {"name": "Lift", "rated_speed_mps": 1.0, "rated_load_kg": 630, "min_floor": 0,
        "max_floor": 4, "travel_m": 12.0}


def test_rescue_and_registration_codes_are_unique_where_they_must_be_and_searchable(
        world: World) -> None:
    world.org("雁塔物业", "property")
    world.site("大雁塔小区", "雁塔区", "雁塔物业")
    world.site("曲江小区", "曲江新区", "雁塔物业")
    made = world.elevator("YT-1", "大雁塔小区", rescue_code="12345",
                          registration_code="31106101002019030001")
    assert (made["rescue_code"], made["registration_code"]) == ("12345",
                                                                "31106101002019030001")
    again = world.admin.post("/elevators", json={**LIFT, "id": "YT-2",
                                                 "site_id": world.sites["大雁塔小区"],
                                                 "rescue_code": "12345"})
    assert again.status_code == 409 and "雁塔区" in again.json()["detail"]
    # The same code in another district is another sign: allowed.
    world.elevator("QJ-1", "曲江小区", rescue_code="12345")
    dup = world.admin.post("/elevators", json={**LIFT, "id": "QJ-2",
                                               "site_id": world.sites["曲江小区"],
                                               "registration_code": "31106101002019030001"})
    assert dup.status_code == 409 and "registration_code" in dup.json()["detail"]
    for bad, field in (({"rescue_code": "1234"}, "rescue_code"),
                       ({"rescue_code": "12a45"}, "rescue_code"),
                       ({"registration_code": "short"}, "registration_code")):
        r = world.admin.post("/elevators", json={**LIFT, "id": "BAD-1",
                                                 "site_id": world.sites["曲江小区"], **bad})
        assert r.status_code == 422 and field in r.text
    def found(q: str) -> list[str]:
        return [e["id"] for e in ok(world.admin.get("/elevators", params={"q": q}))]
    assert found("12345") == ["QJ-1", "YT-1"]
    assert found("31106101002019030001") == ["YT-1"]
    assert found("yt-") == ["YT-1"] and found("%") == [] and found("Lift QJ") == ["QJ-1"]
    for bad in ("", "x" * 101):
        r = world.admin.get("/elevators", params={"q": bad})
        assert r.status_code == 422 and "q" in r.text
    got = ok(world.admin.get("/elevators/YT-1"))
    assert got["rescue_code"] == "12345" and got["registration_code"] == "31106101002019030001"
    # Scoped like every list: another property company finds nothing by the code.
    world.org("别家物业", "property")
    assert ok(world.as_("别家物业").get("/elevators", params={"q": "12345"})) == []


def test_the_elevator_page_shows_both_codes(world: World) -> None:
    import httpx

    world.org("碑林物业", "property")
    world.site("钟楼小区", "碑林区", "碑林物业")
    world.elevator("BL-1", "钟楼小区", rescue_code="654321",
                   registration_code="31106101002019030099")
    with httpx.Client(base_url=world.url, cookies={"whistle_token": world.tokens["碑林物业"]},
                      timeout=10) as page:
        r = page.get("/elevators/BL-1")
        assert r.status_code == 200
        assert 'id="rescue-code">654321<' in r.text
        assert 'id="registration-code">31106101002019030099<' in r.text
        assert "钟楼小区" in r.text and "碑林区" in r.text
