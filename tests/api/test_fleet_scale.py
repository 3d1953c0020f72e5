"""The fleet page at 10,000 elevators: a summary by district and site with counts per
status, tiles only for the elevators that are not normal (or of the chosen place, or found
by a search). A render test: what the page holds, never how long it takes (`make bench`)."""

from __future__ import annotations

import re

import psycopg
import pytest

from core.domain import OrgKind, default_landings
from storage import bulk
from tests.api.test_dashboard import browser
from tests.builders import World, raise_alerts

DISTRICTS = ("南山区", "福田区", "罗湖区", "宝安区", "龙岗区")
SITES = 1000
ELEVATORS = 10_000


def city_plan() -> bulk.Plan:
    """1,000 sites in five districts, ten elevators each, with Chinese names and codes."""
    plan = bulk.Plan(orgs=[bulk.OrgIn(1, "深圳物业集团", OrgKind.PROPERTY, None),
                           bulk.OrgIn(2, "深圳电梯维保", OrgKind.MAINTENANCE, None)])
    for i in range(SITES):
        plan.sites.append(bulk.SiteIn(3 + i, f"花园{i:04d}", f"深南大道{i}号",
                                      DISTRICTS[i % len(DISTRICTS)], property_org="深圳物业集团"))
    for i in range(ELEVATORS):
        plan.elevators.append(bulk.ElevatorIn(
            3 + SITES + i, f"SZ{i:05d}", f"{i % 10 + 1}号梯", 1.75, 1000, 0, 17, 54,
            default_landings(0, 17, 54), site=f"花园{i // 10:04d}",
            maintenance_org="深圳电梯维保", rescue_code=f"{100000 + i}",
            registration_code=f"4403{i:016d}"))
    return plan


@pytest.fixture()
def city(world: World, db: psycopg.Connection) -> dict[str, list[str]]:
    """The city registered in bulk; every elevator reporting, a few in trouble."""
    bulk.import_registry(db, city_plan(), recorded_by="test")
    db.execute(
        "INSERT INTO elevator_state (elevator_pk, last_seen, data_at, last_ts, latest, "
        "connection) SELECT pk, now(), now(), now(), '{\"floor\": 1}', 'online' "
        "FROM elevators WHERE id LIKE 'SZ%'")
    faults = [f"SZ{i:05d}" for i in range(7, ELEVATORS, 500)]        # 20
    offline = [f"SZ{i:05d}" for i in range(3, ELEVATORS, 1000)]      # 10
    raise_alerts(db, faults, "door_fault", "major")
    db.execute("UPDATE elevator_state SET connection = 'offline', "
               "connection_at = now() + interval '1 second' WHERE elevator_pk IN "
               "(SELECT pk FROM elevators WHERE id = ANY(%s))", (offline,))
    return {"fault": faults, "offline": offline}


def test_the_fleet_page_of_a_city_is_a_summary_and_the_elevators_in_trouble(
        world: World, city: dict[str, list[str]]):
    with browser(world.url, world.admin_token) as c:
        r = c.get("/")
        assert r.status_code == 200
        page = r.text
        assert len(r.content) < 200_000, len(r.content)
        tiles = re.findall(r'<li class="tile[^"]*" id="tile-([^"]+)" [^>]*data-status="(\w+)"',
                           page)
        # Every elevator not normal has a tile (E1-E3 of the standard world never reported),
        # no normal one has.
        assert {t for t, _ in tiles} == {*city["fault"], *city["offline"], "E1", "E2", "E3"}
        assert {t for t, s in tiles if s == "fault"} == set(city["fault"])
        assert 'data-count="normal">9970<' in page and 'data-count="fault">20<' in page
        # The summary: a row per district with its counts, every site of a chosen one.
        for d in DISTRICTS:
            assert re.search(rf'<tr class="district-row" data-district="{d}">.*?<td>2000\n',
                             page), d
        assert 'class="site-row"' not in page
        nanshan = c.get("/", params={"district": "南山区"}).text
        assert nanshan.count('class="site-row') == 200
        assert "Tiles: 500 of the 2000 elevators chosen." in nanshan
        one = c.get("/", params={"site_id": re.search(
            r'data-site="(\d+)"><th scope="row"><a href="\?site_id=\d+">花园0005<',
            nanshan).group(1)}).text
        assert sorted(re.findall(r'id="tile-(SZ\d+)"', one)) == [
            f"SZ{i:05d}" for i in range(50, 60)]
        # Search by rescue code, registration code, id or name.
        for q, expected in (("100042", ["SZ00042"]), ("44030000000000000043", ["SZ00043"]),
                            ("SZ0004", [f"SZ0004{i}" for i in range(10)])):
            found = c.get("/", params={"q": q}).text
            assert sorted(re.findall(r'id="tile-(SZ\d+)"', found)) == expected, q
    # A small scope keeps every tile, as before.
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get("/").text
        assert 'id="tile-E1"' in page and 'id="tile-E3"' in page and "SZ0" not in page
        assert "data-summary" not in page
