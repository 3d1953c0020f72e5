"""Bulk import (POST /elevators/import, `whistle import`): a whole file checked first, every
bad row reported with its line and field, nothing written unless every row is good."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from api import imports
from storage import bulk
from tests.builders import World, ok

HEADER = ("type,name,kind,district,address,property_org,id,site,site_address,"
          "maintenance_org,rated_speed_mps,rated_load_kg,min_floor,max_floor,travel_m,"
          "landings_m,model,registration_code,rescue_code,next_inspection_due")

GOOD_CSV = "\n".join([
    HEADER,
    "org,深圳华润物业,property,,,,,,,,,,,,,,,,,",
    "org,迅达电梯维保,maintenance,,,,,,,,,,,,,,,,,",
    "org,南山区市场监管局,supervision,南山区,,,,,,,,,,,,,,,,",
    "site,华润城一期,,南山区,深南大道9668号,深圳华润物业,,,,,,,,,,,,,,",
    "site,华润城二期,,南山区,科苑南路2700号,深圳华润物业,,,,,,,,,,,,,,",
    "elevator,1号楼1号梯,,,,,SZ-0001,华润城一期,,迅达电梯维保,1.75,1000,-1,20,63,,"
    "3300,44031234567890123456,10001,2027-06-30",
    "elevator,1号楼2号梯,,,,,SZ-0002,华润城一期,,,1.0,800,0,2,6,0;3;6,,,10002,",
    "elevator,2号楼1号梯,,,,,SZ-0003,华润城二期,,迅达电梯维保,2.5,1350,0,30,90,,,,,",
]) + "\n"


def post_file(world: World, body: str | bytes, media: str, who: str | None = None):
    client = world.as_(who) if who else world.admin
    return client.post("/elevators/import", content=body.encode() if isinstance(body, str)
                       else body, headers={"Content-Type": media})


def test_a_good_csv_file_is_registered_and_visible_through_the_api(world: World):
    done = ok(post_file(world, GOOD_CSV, "text/csv; charset=utf-8"), 201)
    assert done == {"orgs": 3, "sites": 2, "elevators": 3}
    e1 = ok(world.admin.get("/elevators/SZ-0001"))
    assert e1["name"] == "1号楼1号梯" and e1["site_name"] == "华润城一期"
    assert e1["district"] == "南山区" and e1["registration_code"] == "44031234567890123456"
    assert e1["rescue_code"] == "10001" and e1["next_inspection_due"] == "2027-06-30"
    assert e1["min_floor"] == -1 and len(e1["landings_m"]) == 22
    assert [h["org_name"] for h in e1["property_history"]] == ["深圳华润物业"]
    assert [h["org_name"] for h in e1["maintenance_history"]] == ["迅达电梯维保"]
    e2 = ok(world.admin.get("/elevators/SZ-0002"))
    assert e2["landings_m"] == [0, 3, 6] and e2["maintenance_org_id"] is None
    found = ok(world.admin.get("/elevators", params={"q": "10002"}))
    assert [e["id"] for e in found] == ["SZ-0002"]
    sites = [s for s in ok(world.admin.get("/sites")) if s["district"] == "南山区"]
    assert sorted((s["name"], s["elevators"]) for s in sites) == [("华润城一期", 2),
                                                                   ("华润城二期", 1)]
    # The supervision department of the new district sees exactly those elevators.
    orgs = {o["name"]: o["id"] for o in ok(world.admin.get("/orgs"))}
    token = ok(world.admin.post(f"/orgs/{orgs['南山区市场监管局']}/tokens", json={}),
               201)["token"]
    import httpx

    with httpx.Client(base_url=world.url + "/api/v1",
                      headers={"Authorization": f"Bearer {token}"}) as sup:
        assert sorted(e["id"] for e in ok(sup.get("/elevators"))) == [
            "SZ-0001", "SZ-0002", "SZ-0003"]


def test_a_json_file_may_refer_to_what_is_already_registered(world: World):
    records = [
        {"type": "site", "name": "Riverside Tower", "address": "1 River Rd",
         "district": "D1", "property_org": "prop_a"},
        {"type": "elevator", "id": "J-1", "site": "Riverside Tower", "name": "North car",
         "rated_speed_mps": 1.6, "rated_load_kg": 1000, "min_floor": 0, "max_floor": 9,
         "travel_m": 30, "maintenance_org": "maint_1", "model": "3300"},
        {"type": "elevator", "id": "J-2", "site_id": world.sites["S1"], "name": "旧楼货梯",
         "rated_speed_mps": 0.5, "rated_load_kg": 2000, "min_floor": 0, "max_floor": 3,
         "travel_m": 12, "landings_m": [0, 4, 8, 12]},
    ]
    text = json.dumps(records, ensure_ascii=False, indent=1)
    assert ok(post_file(world, text, "application/json"), 201)["elevators"] == 2
    j1 = ok(world.as_("maint_1").get("/elevators/J-1"))  # maint_1 maintains it
    assert j1["site_name"] == "Riverside Tower" and j1["model"] == "3300"
    j2 = ok(world.as_("prop_a").get("/elevators/J-2"))  # S1 belongs to prop_a
    assert j2["name"] == "旧楼货梯" and j2["site_id"] == world.sites["S1"]


BAD_CSV = "\n".join([
    HEADER,
    "org,新物业,property,,,,,,,,,,,,,,,,,",                            # 2: good
    "org,新物业,property,,,,,,,,,,,,,,,,,",                            # 3: repeats line 2
    "org,街道办,street,,,,,,,,,,,,,,,,,",                              # 4: no district
    "site,新小区,,D1,一号路,没有这家,,,,,,,,,,,,,,",                     # 5: unknown org
    "site,另一小区,,D1,二号路,maint_1,,,,,,,,,,,,,,",                    # 6: wrong kind
    "elevator,甲梯,,,,,E1,新小区,,,1.75,1000,0,10,30,,,,,",               # 7: E1 exists
    "elevator,乙梯,,,,,B-2,新小区,,,fast,1000,0,10,30,,,,,",             # 8: speed
    "elevator,丙梯,,,,,B-3,无此小区,,,1.75,1000,0,10,30,,,,,",           # 9: unknown site
    "elevator,丁梯,,,,,B-4,新小区,,,1.75,1000,5,3,30,,,,,",               # 10: floors
    "elevator,戊梯,,,,,B-5,新小区,,,1.75,1000,0,10,30,,,ABC,,",          # 11: reg. code
    "elevator,己梯,,,,,B-6,新小区,,,1.75,1000,0,10,30,,,,10001,",        # 12: good
    "elevator,庚梯,,,,,B-6,新小区,,,1.75,1000,0,10,30,,,,10001,",        # 13: id + rescue
    "lift,x,,,,,,,,,,,,,,,,,,",                                         # 14: type
])


def test_a_file_with_bad_rows_writes_nothing_and_names_every_line_and_field(
        world: World, db: psycopg.Connection):
    before = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("orgs", "sites", "elevators", "elevator_property")]
    r = post_file(world, BAD_CSV, "text/csv")
    assert r.status_code == 422, r.text
    errors = {(e["line"], e["field"]) for e in r.json()["errors"]}
    assert errors == {(3, "name"), (4, "district"), (5, "property_org"), (6, "property_org"),
                      (7, "id"), (8, "rated_speed_mps"), (9, "site"), (10, "max_floor"),
                      (11, "registration_code"), (13, "id"), (13, "rescue_code"),
                      (14, "type")}, r.json()["errors"]
    assert all(e["message"] for e in r.json()["errors"])
    assert "nothing was imported" in r.json()["detail"]
    after = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
             for t in ("orgs", "sites", "elevators", "elevator_property")]
    assert after == before
    assert world.admin.get("/elevators/B-6").status_code == 404


def test_malformed_files_are_422_with_a_line(world: World):
    cases = [
        ("[{\"type\": \"org\", \"name\": \"x\", \"kind\": \"property\"},\n{\"type\": ",
         "application/json", 2),
        ("{\"type\": \"org\"}", "application/json", 1),
        ("name,kind\nx,property\n", "text/csv", 1),
        ("", "text/csv", 1),
        ("type,name,kind\norg,x,property,extra\n", "text/csv", 2),
        ('[{"type": "org", "name": "a", "kind": "admin", "colour": "red"}]',
         "application/json", 1),
    ]
    for body, media, line in cases:
        r = post_file(world, body, media)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["line"] == line, (body, r.json())
    r = post_file(world, b"type,name\norg,\xff\n", "text/csv")
    assert r.status_code == 422 and r.json()["errors"][0]["line"] == 2


def test_only_an_admin_imports(world: World):
    for who in ("prop_a", "maint_1", "sup_d1", "community_d1", "street_d1", "rescue_d1"):
        r = post_file(world, GOOD_CSV, "text/csv", who)
        assert r.status_code == 403, who
    assert world.admin.get("/elevators/SZ-0001").status_code == 404


def test_thousands_of_elevators_in_one_transaction_and_one_notification(
        pg_url: str, db: psycopg.Connection):
    lines = [HEADER, "org,大物业,property,,,,,,,,,,,,,,,,,"]
    lines += [f"site,小区{i},,区{i % 7},路{i}号,大物业,,,,,,,,,,,,,," for i in range(200)]
    lines += [f"elevator,梯{i},,,,,K-{i:05d},小区{i % 200},,,1.75,1000,0,9,30,,,,"
              f"{10000 + i}," for i in range(3000)]
    plan = imports.parse("\n".join(lines), json_format=False)
    stages: list[tuple[str, int, int]] = []
    with psycopg.connect(pg_url, autocommit=True) as listener, \
            psycopg.connect(pg_url, autocommit=True) as conn:
        listener.execute("LISTEN whistle_registry")
        done = bulk.import_registry(conn, plan, recorded_by="test",
                                    progress=lambda *a: stages.append(a))
        notes = list(listener.notifies(timeout=1.0, stop_after=5))
    assert done.as_dict() == {"orgs": 1, "sites": 200, "elevators": 3000}
    assert stages[-1] == ("writing", 3000, 3000)
    assert [json.loads(n.payload)["change"] for n in notes] == ["bulk"]
    assert db.execute("SELECT count(*) FROM elevator_property p JOIN elevators e "
                      "ON e.pk = p.elevator_pk WHERE e.id LIKE 'K-%'").fetchone()[0] == 3000
    # Again: every elevator id and rescue code is now taken, nothing is written twice.
    with pytest.raises(bulk.Refused) as refused, psycopg.connect(pg_url) as conn:
        bulk.import_registry(conn, imports.parse("\n".join([HEADER, *lines[202:]]),
                                                 json_format=False), recorded_by="test")
    assert len(refused.value.problems) == 6000
    assert {p.field for p in refused.value.problems} == {"id", "rescue_code"}


def test_the_command_line_imports_a_file_and_refuses_a_bad_one(
        settings, db: psycopg.Connection, tmp_path: Path):
    env = {**os.environ, "WHISTLE_DATABASE_URL": settings.database_url,
           "WHISTLE_DATA_DIR": str(tmp_path), "WHISTLE_LOG_LEVEL": "warning"}
    good, bad = tmp_path / "city.csv", tmp_path / "bad.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    bad.write_text(BAD_CSV, encoding="utf-8")
    cli = [sys.executable, "-m", "whistle", "import"]
    run = subprocess.run([*cli, str(good)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "3 elevators" in run.stdout
    assert db.execute("SELECT name FROM elevators WHERE id = 'SZ-0003'").fetchone() == (
        "2号楼1号梯",)
    run = subprocess.run([*cli, str(bad)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    assert f"{bad}:8: rated_speed_mps:" in run.stderr and "nothing was imported" in run.stderr
    assert db.execute("SELECT count(*) FROM elevators WHERE id LIKE 'B-%'").fetchone()[0] == 0


def test_the_readme_example_imports(world: World):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("## Registering a city", 1)[1].split("```csv\n", 1)[1]
    example = example.split("```", 1)[0]
    assert ok(post_file(world, example, "text/csv"), 201) == {"orgs": 3, "sites": 1,
                                                              "elevators": 2}
    assert ok(world.admin.get("/elevators/SZ-0002"))["landings_m"] == [0, 3, 6]
