"""GET /reports/duty (CONTRACT section 6): cases with known timings give known counts and
times per organization; CSV for spreadsheets in Chinese; who may ask and for what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.cases import DEFAULT_LIMITS, CaseKind
from storage.cases import changes, duty, timers
from tests.builders import World, ok, raise_alert


def case_of(world: World, alert_id: int) -> int:
    return int(ok(world.admin.get(f"/alerts/{alert_id}"))["case_id"])


def rows_by_name(report: dict) -> dict[str, dict]:
    return {o["org_name"]: o for o in report["organizations"]}


def near(value: float | None, expected: float, slack: float = 20.0) -> bool:
    return value is not None and abs(value - expected) <= slack


@pytest.fixture()
def timed(world: World, db) -> dict[str, int]:
    """D1: a fault on E1 opened an hour ago (prop_a reports for duty late now, maint_1
    never); a rescue on E3 opened 2 minutes ago (prop_a in time, arrives, resolves).
    D2: a resident's report on E2 that prop_b resolved and the reporter reopened."""
    fault = case_of(world, raise_alert(db, "E1", "power_loss", minutes_ago=60))
    rescue = case_of(world, raise_alert(db, "E3", "trapped_passenger", "critical",
                                        minutes_ago=2))
    prop = world.as_("prop_a")
    ok(prop.post(f"/cases/{fault}/duty"))
    ok(prop.post(f"/cases/{rescue}/duty"))
    ok(prop.post(f"/cases/{rescue}/arrive"))
    ok(prop.post(f"/cases/{rescue}/resolve", json={"cause": "misuse", "note": "doors held"}))
    with db.transaction():
        timers.flag_late(db, now=datetime.now(UTC))
    pk, site = db.execute("SELECT pk, site_id FROM elevators WHERE id = 'E2'").fetchone()
    now = datetime.now(UTC)
    with db.transaction():
        reported, reference, _ = changes.report(
            db, elevator_pk=pk, site_id=site, kind=CaseKind.FAULT, category="stopped",
            description="stuck at 3", contact=None, limits=DEFAULT_LIMITS[CaseKind.FAULT],
            severity="major", now=now)
    ok(world.as_("prop_b").post(f"/cases/{reported}/duty"))
    ok(world.as_("prop_b").post(f"/cases/{reported}/resolve",
                                json={"cause": "electrical", "note": "fuse"}))
    with db.transaction():
        report, case = duty.lock_reference(db, reference=reference)
        duty.feedback(db, report=report, case=case, solved=False, comment="still stuck",
                      limits=DEFAULT_LIMITS[CaseKind.FAULT], now=datetime.now(UTC))
    return {"fault": fault, "rescue": rescue, "reported": reported}


def test_counts_and_times_per_organization(world: World, timed):
    report = ok(world.as_("sup_d1").get("/reports/duty"))
    assert report["district"] == "D1" and report["rescue_arrival_target_s"] == 1800
    rows = rows_by_name(report)
    assert set(rows) == {"prop_a", "maint_1"}  # D2's organizations are not in D1's report
    prop, maint = rows["prop_a"], rows["maint_1"]
    assert (prop["cases_required"], prop["on_duty_in_time"], prop["on_duty_late"],
            prop["never"], prop["pending"], prop["cases_on_duty"]) == (2, 1, 1, 0, 0, 2)
    assert (maint["cases_required"], maint["on_duty_in_time"], maint["on_duty_late"],
            maint["never"], maint["cases_on_duty"]) == (1, 0, 0, 1, 0)
    # to report for duty: 2 min and 60 min after opening; median of two is their mean
    assert near(prop["on_duty_worst_s"], 3600) and near(prop["on_duty_median_s"], 1860)
    assert near(prop["arrive_median_s"], 120) and near(prop["arrive_worst_s"], 120)
    assert near(prop["resolve_median_s"], 120) and near(prop["resolve_worst_s"], 120)
    assert (prop["rescues"], prop["rescues_arrived_in_time"], prop["reopened"]) == (1, 1, 0)
    assert maint["on_duty_median_s"] is None and maint["rescues"] == 0
    assert report["totals"]["cases"] == 2 and report["totals"]["rescues_arrived_in_time"] == 1
    # the late party is also marked late on the case itself
    case = ok(world.admin.get(f"/cases/{timed['fault']}"))
    assert {p["org_name"]: p["late"] for p in case["parties"]} == {
        "prop_a": True, "maint_1": True}


def test_reopened_cases_and_admin_sees_any_district(world: World, timed):
    rows = rows_by_name(ok(world.admin.get("/reports/duty", params={"district": "D2"})))
    assert set(rows) == {"prop_b", "maint_2"}
    assert rows["prop_b"]["reopened"] == 1 and rows["prop_b"]["on_duty_in_time"] == 1
    assert rows["maint_2"]["pending"] == 1 and rows["maint_2"]["never"] == 0
    everything = rows_by_name(ok(world.admin.get("/reports/duty")))
    assert {"prop_a", "maint_1", "prop_b", "maint_2"} <= set(everything)
    assert ok(world.as_("street_d1").get("/reports/duty"))["district"] == "D1"


def test_a_range_before_the_cases_is_empty(world: World, timed):
    end = datetime.now(UTC) - timedelta(hours=2)
    report = ok(world.as_("sup_d1").get("/reports/duty", params={
        "start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()}))
    assert report["organizations"] == [] and report["totals"]["cases"] == 0


def test_csv_with_chinese_names_opens_in_a_spreadsheet(world: World, db, timed):
    db.execute("UPDATE orgs SET name = '雁塔物业' WHERE name = 'prop_a'")
    r = world.as_("sup_d1").get("/reports/duty", headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM spreadsheets look for
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_name = {row["org_name"]: row for row in rows}
    assert by_name["雁塔物业"]["on_duty_late"] == "1"
    assert by_name["maint_1"]["never"] == "1"
    zh = world.as_("sup_d1").get("/reports/duty", params={"format": "csv", "lang": "zh-CN"})
    header = zh.content.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("单位编号,单位,") and "始终无人报到" in header
    assert "D1" in zh.headers["content-disposition"]


def test_who_may_ask_and_bad_dates(world: World):
    for name in ("prop_a", "maint_1", "community_d1", "rescue_d1"):
        assert world.as_(name).get("/reports/duty").status_code == 403, name
    assert world.as_("sup_d1").get("/reports/duty", params={"district": "D2"}
                                   ).status_code == 404
    assert world.as_("sup_d1").get("/reports/duty", params={"district": "D1"}
                                   ).status_code == 200
    now = datetime.now(UTC)
    for params, field in (({"start": "yesterday"}, "start"), ({"end": "2026-13-01"}, "end"),
                          ({"start": now.isoformat(), "end": (now - timedelta(hours=1)
                                                              ).isoformat()}, "end"),
                          ({"start": (now - timedelta(days=400)).isoformat()}, "end"),
                          ({"end": "0001-01-02T00:00:00Z"}, "end")):
        r = world.as_("sup_d1").get("/reports/duty", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
