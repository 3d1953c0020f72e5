"""GET /reports/response and GET /reports/alerts.csv through the real API: who answered
for each alert and how fast, rescues against the 30-minute rule, overdue records, the
responsibility a handover moves, scoping (403 beyond one's district) and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from rules import escalation
from rules.policy import Policy
from tests.builders import World, committed, ok, raise_alert


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def by_org(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["org_name"]: o for o in report["organizations"]}


def near(value: float | None, expected: float, slack: float = 30) -> bool:
    return value is not None and abs(value - expected) <= slack


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_response_times_and_rescues_per_organization(world: World, db):
    power = raise_alert(db, "E1", "power_loss", at=ago(10))
    alarm = raise_alert(db, "E3", "alarm_pressed", at=ago(4))
    late = raise_alert(db, "E1", "trapped_passenger", "critical", at=ago(31))
    quick = raise_alert(db, "E3", "trapped_passenger", "critical", at=ago(2))
    raise_alert(db, "E2", "overspeed", "critical", at=ago(1))  # district D2
    ok(world.as_("maint_1").post(f"/alerts/{power}/ack"))
    ok(world.as_("maint_1").post(f"/alerts/{power}/arrive"))
    ok(world.as_("prop_a").post(f"/alerts/{alarm}/ack"))
    ok(world.as_("rescue_d1").post(f"/alerts/{late}/arrive"))
    ok(world.as_("prop_a").post(f"/alerts/{quick}/arrive"))

    report = ok(world.as_("sup_d1").get("/reports/response"))
    assert report["district"] == "D1" and report["rescue_limit_s"] == 1800
    orgs = by_org(report)
    assert "prop_b" not in orgs and "maint_2" not in orgs
    a = orgs["prop_a"]
    assert (a["alerts_received"], a["acknowledged"], a["arrived"]) == (4, 2, 1)
    assert near(a["ack_median_s"], 180) and near(a["ack_worst_s"], 240)
    assert near(a["arrive_median_s"], 120) and near(a["arrive_worst_s"], 120)
    assert (a["rescues"], a["rescues_late"], a["never_acknowledged"]) == (2, 1, 0)
    m = orgs["maint_1"]
    assert (m["alerts_received"], m["acknowledged"], m["arrived"]) == (2, 1, 1)
    assert near(m["ack_median_s"], 600) and near(m["arrive_worst_s"], 600)
    assert (m["rescues"], m["rescues_late"]) == (1, 1)
    r = orgs["rescue_d1"]  # not in the chain, but it went: counted for what it did
    assert (r["alerts_received"], r["acknowledged"], r["arrived"]) == (0, 1, 1)
    assert near(r["arrive_worst_s"], 31 * 60) and (r["rescues"], r["rescues_late"]) == (1, 1)
    t = report["totals"]
    assert (t["alerts"], t["acknowledged"], t["arrived"], t["rescues"], t["rescues_late"]
            ) == (4, 4, 3, 2, 1)
    assert near(t["ack_worst_s"], 31 * 60)

    d2 = by_org(ok(world.admin.get("/reports/response", params={"district": "D2"})))
    assert set(d2) == {"prop_b", "maint_2"} and d2["prop_b"]["never_acknowledged"] == 1
    everything = by_org(ok(world.admin.get("/reports/response")))
    assert {"prop_a", "prop_b", "maint_1", "maint_2", "rescue_d1"} <= set(everything)


def test_a_rescue_nobody_reached_is_late_and_escalation_counts_as_received(world: World, db):
    waiting = raise_alert(db, "E3", "trapped_passenger", "critical", at=ago(40))
    steps = escalation.escalate_due(db, policy=Policy(), now=datetime.now(UTC))
    # E3 has no maintenance organization: the chain skips to community and street.
    assert [(s["alert_id"], s["level"]) for s in steps] == [(waiting, 2)]
    ok(world.as_("community_d1").post(f"/alerts/{waiting}/ack"))
    orgs = by_org(ok(world.as_("sup_d1").get("/reports/response")))
    assert orgs["prop_a"]["rescues_late"] == 1 and orgs["prop_a"]["acknowledged"] == 0
    c = orgs["community_d1"]
    assert (c["alerts_received"], c["acknowledged"], c["rescues_late"]) == (1, 1, 1)
    assert c["ack_worst_s"] < 60  # measured from when it was called, not from the raise
    assert orgs["street_d1"]["alerts_received"] == 1
    assert orgs["street_d1"]["acknowledged"] == 0


def test_a_handover_moves_responsibility_from_its_effective_time(world: World, db):
    db.execute("UPDATE elevator_property SET effective_from = now() - interval '1 day' "
               "WHERE elevator_pk = (SELECT pk FROM elevators WHERE id = 'E1')")
    before = raise_alert(db, "E1", "door_fault", at=ago(120))
    ok(world.admin.post("/elevators/E1/handover", json={
        "property_org_id": world.orgs["prop_b"], "effective_at": ago(60).isoformat()}))
    committed(db, "SELECT count(*) FROM elevator_property", 4)
    after = raise_alert(db, "E1", "motor_overheat", at=ago(5))

    orgs = by_org(ok(world.admin.get("/reports/response")))
    assert orgs["prop_a"]["alerts_received"] == 1  # `before`, on E1 while it was prop_a's
    assert orgs["prop_b"]["alerts_received"] == 1  # `after`
    history = {int(r["id"]): r for r in rows(world.admin.get("/reports/alerts.csv").text)}
    assert history[before]["responsible_org"] == "prop_a"
    assert history[after]["responsible_org"] == "prop_b"
    assert history[before]["maintenance_org"] == "maint_1"
    # Scoping follows the current responsibility, like GET /alerts.
    assert {int(r["id"]) for r in rows(world.as_("prop_b").get("/reports/alerts.csv").text)
            } == {before, after}
    assert rows(world.as_("prop_a").get("/reports/alerts.csv").text) == []


def test_overdue_inspections_and_maintenance_per_organization(world: World, db):
    db.execute("UPDATE elevators SET next_inspection_due = current_date - 3 WHERE id = 'E1'")
    db.execute("UPDATE elevators SET registered_at = now() - interval '20 days' "
               "WHERE id IN ('E1', 'E3')")
    ok(world.as_("maint_1").post("/elevators/E1/maintenance", json={"notes": "done"}), 201)
    orgs = by_org(ok(world.as_("sup_d1").get("/reports/response")))
    a, m = orgs["prop_a"], orgs["maint_1"]
    assert (a["elevators"], a["inspections_overdue"], a["maintenance_overdue"]) == (2, 1, 1)
    assert (m["elevators"], m["inspections_overdue"], m["maintenance_overdue"]) == (1, 1, 0)
    assert a["alerts_received"] == 0 and a["ack_median_s"] is None
    totals = ok(world.as_("sup_d1").get("/reports/response"))["totals"]
    assert (totals["elevators"], totals["inspections_overdue"],
            totals["maintenance_overdue"]) == (2, 1, 1)


def test_who_may_ask_and_what_is_refused(world: World, db):
    for name in ("prop_a", "maint_1", "community_d1", "street_d1", "rescue_d1"):
        assert world.as_(name).get("/reports/response").status_code == 403, name
    assert world.as_(None).get("/reports/response").status_code == 401
    assert world.as_(None).get("/reports/alerts.csv").status_code == 401
    r = world.as_("sup_d1").get("/reports/response", params={"district": "D2"})
    assert r.status_code == 403 and "own district (D1)" in r.json()["detail"]
    assert ok(world.as_("sup_d1").get("/reports/response",
                                      params={"district": "D1"}))["district"] == "D1"
    for params, field in (({"start": "yesterday"}, "start"), ({"end": "x"}, "end"),
                          ({"format": "xml"}, "format"), ({"district": ""}, "district"),
                          ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
                           "start"),
                          ({"start": "1900-01-01T00:00:00Z"}, "start")):
        r = world.admin.get("/reports/response", params=params)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (params, r.text)
    r = world.admin.get("/reports/alerts.csv", params={"start": "2030-01-02T00:00:00",
                                                       "end": "2030-01-01T00:00:00"})
    assert r.status_code == 422


def test_csv_exports(world: World, db):
    alert = raise_alert(db, "E1", "door_fault", at=ago(3))
    ok(world.as_("maint_1").post(f"/alerts/{alert}/ack"))
    ok(world.as_("maint_1").post(f"/alerts/{alert}/resolve",
                                 json={"note": "=HYPERLINK(\"x\")"}))
    raise_alert(db, "E2", "door_fault", at=ago(2))
    r = world.as_("sup_d1").get("/reports/response", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = rows(r.text)
    assert table[-1]["org_name"] == "all organizations" and table[-1]["alerts_received"] == "1"
    m = next(t for t in table if t["org_name"] == "maint_1")
    assert (m["alerts_received"], m["acknowledged"], m["resolved"]) == ("1", "1", "1")

    history = rows(world.as_("sup_d1").get("/reports/alerts.csv").text)
    assert [int(h["id"]) for h in history] == [alert]
    h = history[0]
    assert h["acknowledged_by_org"] == "maint_1" and h["responsible_org"] == "prop_a"
    assert h["note"] == "'=HYPERLINK(\"x\")"  # a formula is defused
    assert float(h["time_to_ack_s"]) >= 170 and h["rescue_late"] == ""
    assert rows(world.as_("sup_d1").get("/reports/alerts.csv",
                                        params={"district": "D2"}).text) == []
    assert len(rows(world.admin.get("/reports/alerts.csv").text)) == 2
    old = world.admin.get("/reports/alerts.csv", params={
        "start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"})
    assert old.status_code == 200 and rows(old.text) == []


def test_a_district_named_in_chinese_downloads_with_its_name(world: World, db):
    from urllib.parse import unquote

    world.org("雁塔区市场监督管理局", "supervision", "雁塔区")
    world.org("曲江物业", "property")
    world.site("大雁塔小区", "雁塔区", "曲江物业")
    world.elevator("YT-1", "大雁塔小区")
    raise_alert(db, "YT-1", "door_fault", at=ago(3))
    for path in ("/reports/response", "/reports/alerts.csv"):
        r = world.as_("雁塔区市场监督管理局").get(
            path, params={"district": "雁塔区", "format": "csv"})
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        assert disposition.isascii() and "filename*=UTF-8''" in disposition
        assert "雁塔区" in unquote(disposition.split("filename*=UTF-8''")[1])
    history = rows(r.text)
    assert [h["site_name"] for h in history] == ["大雁塔小区"]


def test_a_chinese_download_has_chinese_columns_and_file_name(world: World, db):
    from urllib.parse import unquote

    world.org("雁塔区市场监督管理局", "supervision", "雁塔区")
    world.org("曲江物业", "property")
    world.site("大雁塔小区", "雁塔区", "曲江物业")
    world.elevator("YT-1", "大雁塔小区")
    raise_alert(db, "YT-1", "trapped_passenger", "critical", at=ago(3))
    caller = world.as_("雁塔区市场监督管理局")
    r = caller.get("/reports/alerts.csv", params={"district": "雁塔区", "lang": "zh-CN"})
    assert r.status_code == 200, r.text
    name = unquote(r.headers["content-disposition"].split("filename*=UTF-8''")[1])
    assert name.startswith("whistle-告警记录-雁塔区-") and name.endswith(".csv")
    [row] = rows(r.text)
    assert row["小区"] == "大雁塔小区" and row["告警类型"] == "trapped_passenger"
    report = caller.get("/reports/response", params={"format": "csv", "lang": "zh-CN"})
    assert report.text.startswith("单位编号,单位,单位类型") and "全部单位" in report.text
    # The dashboard's cookie chooses too; a language we do not serve leaves machine names.
    caller.cookies.set("whistle_lang", "zh-CN")
    assert caller.get("/reports/alerts.csv").text.startswith("告警编号,")
    caller.cookies.clear()
    assert caller.get("/reports/alerts.csv", params={"lang": "fr"}).text.startswith("id,")
    assert caller.get("/reports/alerts.csv", params={"lang": "x" * 40}).status_code == 422
