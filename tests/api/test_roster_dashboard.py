"""The duty roster page and the case page's notifications over HTTP (no browser): the
organization's people see its roster, who is on duty now and how they are reached
(masked); managers get the editing forms, whose requests (as static/js/roster.js sends
them: GET, then PUT of the whole roster with the cookie and the page's Origin) work;
another organization gets 404; in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from tests.api.test_dashboard import browser
from tests.api.test_orgs_dashboard import api, manager_token
from tests.builders import World, ok, raise_alert

ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=the-access-token-0001"


def test_the_roster_page_shows_who_is_on_duty_and_how_they_are_reached(world: World):
    org = world.orgs["prop_a"]
    boss_id, boss = manager_token(world, "prop_a")
    today = datetime.now(UTC).isoweekday()
    ok(world.admin.put(f"/orgs/{org}/roster", json={"shifts": [
        {"person_id": boss_id, "weekday": d, "start": "00:00", "end": "00:00",
         "time_zone": "UTC"} for d in (today, today % 7 + 1)]}))
    ok(world.admin.put(f"/orgs/{org}/channels", json={"channels": [
        {"kind": "dingtalk", "target": ROBOT, "secret": "SEC-a-secret-0123456789"},
        {"person_id": boss_id, "kind": "email", "target": "boss@example.org", "lang": "en"}]}))
    with browser(world.url, world.tokens["prop_a"]) as c:  # a member, not a manager
        page = c.get(f"/orgs/{org}/roster")
        assert page.status_code == 200, page.text
        assert 'aria-current="page">Duty roster' in page.text
        assert "On duty now:</strong> Wang boss" in page.text
        assert "by the weekly shifts" in page.text and "boss@example.org" in page.text
        assert "the-access-token" not in page.text and "SEC-a-secret" not in page.text
        assert "https://oapi.dingtalk.com/****" in page.text
        assert 'id="shift-form"' not in page.text  # no editing for a member
        zh = c.get(f"/orgs/{org}/roster", params={"lang": "zh-CN"}).text
        assert "值班表" in zh and "当前值班" in zh and "钉钉群机器人" in zh and "星期" in zh
    with browser(world.url, world.tokens["prop_b"]) as c:
        assert c.get(f"/orgs/{org}/roster").status_code == 404
    with browser(world.url, boss) as c:
        page = c.get(f"/orgs/{org}/roster").text
        assert 'id="shift-form"' in page and 'id="override-form"' in page
        current = ok(api(c, world, "GET", f"/orgs/{org}/roster"))
        body = {"shifts": [{k: s[k] for k in ("person_id", "weekday", "start", "end",
                                                "time_zone")} for s in current["shifts"]],
                "overrides": [{"person_id": boss_id, "start": "2026-12-24T00:00:00Z",
                               "end": "2026-12-26T00:00:00Z", "duty": "off",
                               "note": "holiday"}]}
        ok(api(c, world, "PUT", f"/orgs/{org}/roster", body))
        page = c.get(f"/orgs/{org}/roster").text
        assert "holiday" in page and "off duty" in page


def test_the_case_page_lists_the_people_notified(world: World, db: psycopg.Connection):
    raise_alert(db, "E1", "door_fault", "major")
    [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
    db.execute("INSERT INTO case_notifications (case_ids, org_id, recipient, channel, target, "
               "change, message, state, attempt, error) VALUES (%s, %s, 'Wang Li', 'wecom', "
               "'https://qyapi.weixin.qq.com/****', 'opened', '{}', 'failed', 3, 'HTTP 500')",
               ([case_id], world.orgs["prop_a"]))
    with browser(world.url, world.tokens["maint_1"]) as c:
        page = c.get(f"/cases/{case_id}").text
        assert 'id="case-notifications"' in page and "Wang Li" in page
        assert "WeCom robot" in page and "attempt 3" in page and "HTTP 500" in page
        zh = c.get(f"/cases/{case_id}", params={"lang": "zh-CN"}).text
        assert "已通知人员" in zh and "企业微信群机器人" in zh and "失败" in zh


def test_admins_see_which_organizations_have_failing_channels(world: World,
                                                              db: psycopg.Connection):
    org = world.orgs["maint_1"]
    ok(world.admin.put(f"/orgs/{org}/channels", json={"channels": [
        {"kind": "dingtalk", "target": ROBOT}]}))
    db.execute("UPDATE contact_channels SET failures = 5, last_failed_at = now()")
    with browser(world.url, world.admin_token) as c:
        page = c.get("/orgs").text
        assert f'<a class="bad" href="/orgs/{org}/roster">1 failing</a>' in page
        roster = c.get(f"/orgs/{org}/roster").text
        assert 'data-failing="true"' in roster and "failing" in roster
    with browser(world.url, world.tokens["sup_d1"]) as c:
        assert "failing" not in c.get("/orgs").text  # its rosters are not supervision's
