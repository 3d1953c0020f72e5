"""The case pages over HTTP (no browser): the queue with party marks and only the buttons
the state machine allows, a button's request changing the case, the case page's timeline
and deadlines, 404 across scopes, the elevator page's cases and sign link, the duty report
on the supervision view, in English and Chinese."""

from __future__ import annotations

import re

from tests.api.test_dashboard import browser
from tests.builders import World, ok, raise_alert


def case_of(world: World, alert_id: int) -> int:
    return int(ok(world.admin.get(f"/alerts/{alert_id}"))["case_id"])


def card(page: str, case_id: int) -> str:
    """The queue's card of one case."""
    m = re.search(rf'<li class="case[^"]*" id="case-{case_id}".*?</li>\s*(?=<li class="case|</ol>)',
                  page, re.S)
    assert m, f"case {case_id} is not in the queue"
    return m.group(0)


def marks(html: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(
        r'data-mark="(\w+)"[^>]*>.*?</span> ([\w ]+?) <small>', html, re.S)}


def test_the_queue_marks_parties_and_shows_only_allowed_buttons(world: World, db):
    late = case_of(world, raise_alert(db, "E1", "power_loss", minutes_ago=30))
    fresh = case_of(world, raise_alert(db, "E3", "trapped_passenger", "critical"))
    ok(world.as_("prop_a").post(f"/cases/{late}/duty"))
    with browser(world.url, world.tokens["prop_a"]) as c:
        page = c.get("/cases").text
        assert 'href="/cases" aria-current="page"' in page
        order = [int(m) for m in re.findall(r'<li class="case[^"]*" id="case-(\d+)"', page)]
        assert order == [fresh, late]  # both open at level 0: the newest first
        mine = card(page, late)
        assert marks(mine) == {"prop_a": "late_duty", "maint_1": "late"}
        # prop_a is on duty on the fault case: arrive, resolve, note; no duty button
        assert 'data-action="duty"' not in mine
        for action in ("arrive", "resolve", "notes"):
            assert f'data-action="{action}"' in mine, action
        assert 'data-action="rescued"' not in mine
        assert "door system" in mine  # the causes in words
        other = card(page, fresh)
        assert marks(other) == {"prop_a": "waiting"}
        assert 'data-action="duty"' in other and 'data-action="arrive"' not in other
        assert 'data-action="resolve"' not in other
        # the button's request (what static/js/cases.js sends, with the sign-in cookie)
        ok(c.post(f"/api/v1/cases/{fresh}/duty"))
        other = card(c.get("/cases").text, fresh)
        assert marks(other) == {"prop_a": "duty"}
        assert 'data-action="duty"' not in other and 'data-action="rescued"' in other
        assert ok(world.admin.get(f"/cases/{fresh}"))["parties"][0]["on_duty_at"]
        # filters
        assert f'id="case-{late}"' not in c.get("/cases", params={"kind": "rescue"}).text
        only = c.get("/cases", params={"state": "open", "party": "me", "district": "D1"})
        assert only.status_code == 200 and f'id="case-{late}"' in only.text
        assert c.get("/cases", params={"kind": "flood"}).status_code == 422
        assert c.get("/cases", params={"kind": "", "state": "", "district": "",
                                       "party": ""}).status_code == 200
    with browser(world.url, world.tokens["sup_d1"]) as c:
        sup = card(c.get("/cases").text, late)
        # supervision sees it and may report for duty, but is no party: no note yet
        assert 'data-action="duty"' in sup and 'data-action="notes"' not in sup
    with browser(world.url, world.admin_token) as c:
        admin = card(c.get("/cases").text, late)
        assert 'data-action="duty"' not in admin and 'data-action="resolve"' in admin


def test_the_case_page_shows_the_timeline_deadlines_and_404s_across_scopes(world: World, db):
    case_id = ok(world.as_("rescue_d1").post("/cases", json={
        "kind": "rescue", "description": "96333 call", "elevator_id": "E1",
        "trapped_count": 2, "contact": "138 0000 0000"}), 201)["id"]
    maint = world.as_("maint_1")
    ok(maint.post(f"/cases/{case_id}/duty", json={"note": "on my way"}))
    ok(maint.post(f"/cases/{case_id}/arrive"))
    ok(maint.post(f"/cases/{case_id}/rescued", json={"trapped_count": 2, "injured_count": 0}))
    ok(maint.post(f"/cases/{case_id}/notes", json={"note": "car stopped between 3 and 4"}),
       201)
    ok(maint.post(f"/cases/{case_id}/resolve", json={"cause": "door_system",
                                                     "note": "door operator reset"}))
    with browser(world.url, world.tokens["maint_1"]) as c:
        page = c.get(f"/cases/{case_id}").text
        actions = re.findall(r'<tr data-action="(\w+)">', page)
        assert actions == ["opened", "on_duty", "arrived", "rescued", "noted", "resolved"]
        for text in ("case opened", "reported for duty", "rescue recorded", "2 trapped, 0 injured",
                     "car stopped between 3 and 4", "door system", "door operator reset",
                     "138 0000 0000", "report for duty by", "met at", 'id="charts"',
                     'data-start="', "Telemetry around the case"):
            assert text in page, text
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", page)  # service zone
        assert "maintenance:maint_1" in page or "maint_1" in page
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get(f"/cases/{case_id}").text
        assert "138 0000 0000" not in page  # contacts only for parties and admin
        assert 'data-action="close"' in page and 'data-action="cancel"' in page
    with browser(world.url, world.tokens["prop_b"]) as c:
        for path in (f"/cases/{case_id}", "/cases/999999"):
            r = c.get(path)
            assert r.status_code == 404 and "Not found" in r.text, path
        assert f'id="case-{case_id}"' not in c.get("/cases").text
        assert c.get("/cases/abc").status_code == 422


def test_a_case_page_with_passed_and_pending_deadlines(world: World, db):
    case_id = case_of(world, raise_alert(db, "E1", "power_loss", minutes_ago=20))
    with browser(world.url, world.tokens["prop_a"]) as c:
        page = c.get(f"/cases/{case_id}").text
        assert re.search(r"passed 5 min( \d+ s)? ago", page)  # accept_by: 15 min
        assert re.search(r"3 h \d+ min left", page)  # arrive_by: 4 h
        assert "alert gathered" in page and "power loss" in page


def test_the_elevator_page_lists_its_cases_and_links_the_sign(world: World, db):
    case_id = case_of(world, raise_alert(db, "E1", "door_fault"))
    with browser(world.url, world.tokens["prop_a"]) as c:
        page = c.get("/elevators/E1").text
        assert f'href="/cases/{case_id}"' in page and 'id="elevator-cases"' in page
        assert 'href="/api/v1/elevators/E1/sign"' in page
    with browser(world.url, world.tokens["maint_1"]) as c:
        page = c.get("/elevators/E1").text
        assert f'href="/cases/{case_id}"' in page and 'id="print-sign"' not in page
    with browser(world.url, world.admin_token) as c:
        assert 'href="/api/v1/elevators/E1/sign"' in c.get("/elevators/E1").text


def test_the_supervision_view_shows_the_duty_report_with_a_csv_link(world: World, db):
    case_id = case_of(world, raise_alert(db, "E1", "power_loss", minutes_ago=30))
    ok(world.as_("prop_a").post(f"/cases/{case_id}/duty"))
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get("/supervision").text
        assert 'id="duty"' in page
        row = re.search(rf'<tr data-org="{world.orgs["prop_a"]}">.*?</tr>',
                        page[page.index('id="duty"'):], re.S).group(0)
        assert re.findall(r"<td[^>]*>(\d+)</td>", row)[:5] == ["1", "0", "1", "0", "0"]
        link = re.search(r'id="csv-duty" href="([^"]+)"', page).group(1).replace("&amp;", "&")
        r = c.get(link)
        assert r.status_code == 200 and r.text.lstrip("\ufeff").startswith("organization id,")
        assert c.get("/supervision", params={"start": "2020-01-01", "end": "2026-01-01"}
                     ).status_code == 200  # the duty report says it spans at most 366 days


def test_the_case_pages_in_chinese(world: World, db):
    case_id = case_of(world, raise_alert(db, "E1", "trapped_passenger", "critical"))
    ok(world.as_("maint_1").post(f"/cases/{case_id}/duty"))
    with browser(world.url, world.tokens["maint_1"]) as c:
        queue = c.get("/cases", params={"lang": "zh-CN"}).text
        for text in ("工单", "困人救援", "报到", "门系统", "待到场", "已报到", "记录救援结果"):
            assert text in queue, text
        page = c.get(f"/cases/{case_id}").text  # the cookie keeps the language
        assert "时间线" in page and "创建工单" in page
