"""The organizations pages and the elevator page's handover and maintenance change over
HTTP (no browser): who sees which organizations (admin all, supervision those working in
its district, a manager its own, others 403, beyond sight 404), the forms' requests as
static/js/manage.js sends them (the JSON API with the sign-in cookie and the page's
Origin), a revoked token's row, end of service, in English and Chinese."""

from __future__ import annotations

import re

import httpx

from tests.api.test_dashboard import browser
from tests.builders import World, ok

PASSWORD = "correct horse battery"


def manager_token(world: World, org: str, login: str = "boss") -> tuple[int, str]:
    """A manager person of the organization and a token of that person."""
    boss = ok(world.admin.post(f"/orgs/{world.orgs[org]}/people", json={
        "login": login, "name": f"Wang {login}", "password": PASSWORD, "manager": True}), 201)
    token = ok(world.admin.post(f"/orgs/{world.orgs[org]}/tokens",
                                json={"person_id": boss["id"]}), 201)["token"]
    return boss["id"], token


def org_names(page: str) -> set[str]:
    return set(re.findall(r'<a href="/orgs/\d+">([^<]+)</a>', page))


def api(c: httpx.Client, world: World, method: str, path: str, body: object = None
        ) -> httpx.Response:
    """What manage.js sends: the JSON API with the cookie, from the page's origin."""
    return c.request(method, "/api/v1" + path, json=body, headers={"Origin": world.url})


def test_the_orgs_page_shows_each_caller_what_it_may_see(world: World):
    _, boss = manager_token(world, "prop_a")
    with browser(world.url, world.admin_token) as c:
        page = c.get("/orgs")
        assert page.status_code == 200 and 'href="/orgs" aria-current="page"' in page.text
        assert org_names(page.text) >= set(world.orgs)
        assert "in service" in page.text
        zh = c.get("/orgs", params={"lang": "zh-CN"}).text
        assert "单位管理" in zh and "服务中" in zh and "物业公司" in zh
    with browser(world.url, world.tokens["sup_d1"]) as c:
        names = org_names(c.get("/orgs").text)
        assert {"prop_a", "maint_1", "sup_d1", "street_d1"} <= names
        assert not names & {"prop_b", "maint_2", "sup_d2"}
        assert c.get(f"/orgs/{world.orgs['prop_b']}").status_code == 404
        assert c.get(f"/orgs/{world.orgs['prop_a']}").status_code == 200
    with browser(world.url, boss) as c:
        page = c.get("/").text
        assert 'href="/orgs"' in page
        assert org_names(c.get("/orgs").text) == {"prop_a"}
        assert c.get(f"/orgs/{world.orgs['prop_b']}").status_code == 404
        assert c.get("/orgs/999999").status_code == 404
    for plain in ("prop_a", "maint_1", "street_d1"):
        with browser(world.url, world.tokens[plain]) as c:
            assert 'href="/orgs"' not in c.get("/").text
            refused = c.get("/orgs")
            assert refused.status_code == 403 and "Not allowed" in refused.text
            assert c.get(f"/orgs/{world.orgs[plain]}").status_code == 403
            assert "无权操作" in c.get("/orgs", params={"lang": "zh-CN"}).text


def test_a_manager_adds_and_removes_people_and_tokens_from_the_page(world: World):
    boss_id, boss = manager_token(world, "prop_a")
    org = world.orgs["prop_a"]
    with browser(world.url, boss) as c:
        page = c.get(f"/orgs/{org}").text
        assert 'id="person-form"' in page and 'id="token-form"' in page
        assert f'data-api-path="/orgs/{org}/people"' in page
        assert f'data-person="{boss_id}"' in page and "Wang boss" in page
        assert 'id="end-service-form"' not in page  # supervision and admin end a service
        # the add-a-person form's request
        clerk = ok(api(c, world, "POST", f"/orgs/{org}/people", {
            "login": "clerk", "name": "Li clerk", "password": PASSWORD, "phone": "138",
            "manager": False}), 201)
        page = c.get(f"/orgs/{org}").text
        assert f'data-person="{clerk["id"]}"' in page and "Li clerk" in page
        assert f'data-api-path="/orgs/{org}/people/{clerk["id"]}"' in page
        # a token for the clerk, shown once in the answer, never on the page
        made = ok(api(c, world, "POST", f"/orgs/{org}/tokens",
                      {"label": "front desk", "person_id": clerk["id"], "manager": False}), 201)
        page = c.get(f"/orgs/{org}").text
        assert "front desk" in page and made["token"] not in page
        row = re.search(rf'<tr data-token="{made["id"]}" data-revoked="false">.*?</tr>',
                        page, re.S)
        assert row and "Li clerk" in row.group(0) and 'data-api-method="DELETE"' in row.group(0)
        # revoke: the row says so, the button is gone, the token answers 401
        assert api(c, world, "DELETE", f"/orgs/{org}/tokens/{made['id']}").status_code == 204
        zh = c.get(f"/orgs/{org}", params={"lang": "zh-CN"}).text
        row = re.search(rf'<tr data-token="{made["id"]}" data-revoked="true">.*?</tr>', zh, re.S)
        assert row and "已吊销" in row.group(0) and "data-api-method" not in row.group(0)
        assert "人员" in zh and "访问令牌" in zh
        assert httpx.get(f"{world.url}/api/v1/me", headers={
            "Authorization": f"Bearer {made['token']}"}).status_code == 401
        # remove the clerk
        assert api(c, world, "DELETE", f"/orgs/{org}/people/{clerk['id']}").status_code == 204
        assert f'data-person="{clerk["id"]}"' not in c.get(f"/orgs/{org}").text
        # another organization's people: 404, as the page
        assert api(c, world, "POST", f"/orgs/{world.orgs['prop_b']}/people", {
            "login": "x", "name": "x", "password": PASSWORD}).status_code == 404
    with browser(world.url, world.admin_token) as c:
        page = c.get(f"/orgs/{org}").text
        assert 'id="person-form"' in page and 'id="end-service-form"' in page


def test_supervision_ends_a_service_from_the_page(world: World):
    _, boss = manager_token(world, "prop_a")
    org = world.orgs["prop_a"]
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get(f"/orgs/{org}").text
        assert 'id="end-service-form"' in page and 'name="confirm" required' in page
        assert 'id="people"' not in page and 'id="person-form"' not in page
        assert "data-confirm=" in page
        zh = c.get(f"/orgs/{org}", params={"lang": "zh-CN"}).text
        assert "终止服务" in zh and "我确认终止该单位的服务" in zh
        out = ok(api(c, world, "POST", f"/orgs/{org}/end-service",
                     {"reason": "contract terminated"}))
        assert out["org_id"] == org
        page = c.get(f"/orgs/{org}", params={"lang": "en"}).text
        assert "Service ended" in page and "contract terminated" in page
        assert 'id="end-service-form"' not in page
        listed = re.search(rf'<tr data-org="{org}" data-ended="true">.*?</tr>',
                           c.get("/orgs").text, re.S)
        assert listed and "ended" in listed.group(0) and "contract terminated" in listed.group(0)
    with browser(world.url) as c:  # the manager of the ended organization is signed out
        assert c.post("/signin", data={"token": boss, "next": "/"}).status_code == 401


def test_the_elevator_page_hands_over_and_changes_maintenance(world: World):
    with browser(world.url, world.tokens["prop_a"]) as c:
        page = c.get("/elevators/E1").text
        assert 'id="maintenance-history"' in page and "maint_1" in page
        assert 'id="handover-form"' not in page and 'id="maintenance-change-form"' not in page
    with browser(world.url, world.tokens["sup_d1"]) as c:
        page = c.get("/elevators/E1").text
        assert 'id="handover-form"' in page and 'id="maintenance-change-form"' not in page
        assert f'<option value="{world.orgs["prop_b"]}" >prop_b</option>' in page
        assert f'value="{world.orgs["maint_1"]}"' not in page.split('id="handover-form"')[1]
        assert "移交给物业公司" in c.get("/elevators/E1", params={"lang": "zh-CN"}).text
        ok(api(c, world, "POST", "/elevators/E1/handover",
               {"property_org_id": world.orgs["prop_b"]}))
        history = c.get("/elevators/E1", params={"lang": "en"}).text.split(
            'id="property-history"')[1].split("</table>")[0]
        assert "prop_b" in history and "sup_d1" in history
        assert api(c, world, "PATCH", "/elevators/E1",
                   {"maintenance_org_id": world.orgs["maint_2"]}).status_code == 403
    with browser(world.url, world.admin_token) as c:
        page = c.get("/elevators/E1").text
        assert 'id="handover-form"' in page and 'id="maintenance-change-form"' in page
        ok(api(c, world, "PATCH", "/elevators/E1", {"maintenance_org_id": world.orgs["maint_2"]}))
        history = c.get("/elevators/E1").text.split('id="maintenance-history"')[1].split(
            "</table>")[0]
        assert history.index("maint_1") < history.index("maint_2")
