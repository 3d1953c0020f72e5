"""Duty rosters, on-duty answers and contact channels through the real API (issue 15):
managers and admins write, the organization's people and tokens read, other
organizations get 404 and non-managers 403; bad input is a 422 naming the field; secrets
and robot URLs are never returned in full; a case shows its notifications."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.builders import World, client, ok, raise_alert

OPENED: list[httpx.Client] = []
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=the-access-token-0001"
SECRET = "SECabcdef0123456789secret"
SMS_KEY = "sms-api-key-987654321"


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def manager_of(world: World, org: str) -> httpx.Client:
    token = ok(world.admin.post(f"/orgs/{world.orgs[org]}/tokens",
                                json={"label": "boss", "manager": True}), 201)["token"]
    c = client(world.url, token)
    OPENED.append(c)
    return c


def person(world: World, org: str, login: str) -> int:
    return int(ok(world.admin.post(f"/orgs/{world.orgs[org]}/people", json={
        "login": login, "name": f"Wang {login}", "password": "a-long-password"}), 201)["id"])


def roster_body(wang: int, li: int) -> dict:
    return {"shifts": [
        # Monday 08:00-20:00 Shanghai for Wang; Monday night into Tuesday for Li
        {"person_id": wang, "weekday": 1, "start": "08:00", "end": "20:00",
         "time_zone": "Asia/Shanghai"},
        {"person_id": li, "weekday": 1, "start": "20:00", "end": "08:00",
         "time_zone": "Asia/Shanghai"}],
        "overrides": [{"person_id": li, "start": "2026-12-07T12:00:00+08:00",
                       "end": "2026-12-07T13:00:00+08:00", "duty": "on",
                       "note": "swap with Wang over lunch"}]}


def test_a_manager_sets_the_roster_and_its_people_ask_who_is_on_duty(world: World):
    org = world.orgs["prop_a"]
    wang, li = person(world, "prop_a", "wang"), person(world, "prop_a", "li")
    boss = manager_of(world, "prop_a")
    put = ok(boss.put(f"/orgs/{org}/roster", json=roster_body(wang, li)))
    assert [(s["person_name"], s["start"], s["end"]) for s in put["shifts"]] == [
        ("Wang wang", "08:00", "20:00"), ("Wang li", "20:00", "08:00")]
    member = world.as_("prop_a")
    assert ok(member.get(f"/orgs/{org}/roster")) == put

    def who(at: str) -> tuple[list[str], str]:
        body = ok(member.get(f"/orgs/{org}/on-duty", params={"at": at}))
        return [p["name"] for p in body["people"]], body["source"]

    assert who("2026-12-07T09:00:00+08:00") == (["Wang wang"], "roster")
    assert who("2026-12-07T01:30:00Z") == (["Wang wang"], "roster")  # 09:30 in Shanghai
    assert who("2026-12-07T12:30:00+08:00") == (["Wang li"], "override")
    assert who("2026-12-08T03:00:00+08:00") == (["Wang li"], "roster")  # over midnight
    assert who("2026-12-08T09:00:00+08:00") == ([], "none")
    assert ok(member.get(f"/orgs/{org}/on-duty"))["source"] in ("roster", "none")


def test_roster_scopes_404_across_organizations_and_403_beyond_role(world: World):
    org = world.orgs["prop_a"]
    wang, li = person(world, "prop_a", "wang"), person(world, "prop_a", "li")
    body = roster_body(wang, li)
    for path in ("roster", "on-duty", "channels"):
        for other in ("prop_b", "maint_1", "sup_d1", "street_d1"):
            assert world.as_(other).get(f"/orgs/{org}/{path}").status_code == 404
        assert world.as_(None).get(f"/orgs/{org}/{path}").status_code == 401
        assert world.admin.get(f"/orgs/99999/{path}").status_code == 404
    assert world.as_("prop_b").put(f"/orgs/{org}/roster", json=body).status_code == 404
    assert world.as_("prop_a").put(f"/orgs/{org}/roster", json=body).status_code == 403
    assert world.as_("prop_a").put(f"/orgs/{org}/channels",
                                   json={"channels": []}).status_code == 403
    assert world.as_("prop_b").put(f"/orgs/{org}/channels",
                                   json={"channels": []}).status_code == 404
    ok(world.admin.put(f"/orgs/{org}/roster", json=body))
    # a manager of another organization manages only its own
    other_boss = manager_of(world, "prop_b")
    assert other_boss.put(f"/orgs/{org}/roster", json=body).status_code == 404
    ok(other_boss.put(f"/orgs/{world.orgs['prop_b']}/roster", json={"shifts": []}))


@pytest.mark.parametrize(("change", "field"), [
    ({"weekday": 8}, "weekday"), ({"weekday": "1"}, "weekday"), ({"start": "24:00"}, "start"),
    ({"end": "7pm"}, "end"), ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"person_id": -1}, "person_id"), ({"colour": "red"}, "colour")])
def test_a_bad_shift_is_a_422_naming_its_field(world: World, change: dict, field: str):
    org = world.orgs["prop_a"]
    wang = person(world, "prop_a", "wang")
    shift = {"person_id": wang, "weekday": 1, "start": "08:00", "end": "20:00",
             "time_zone": "Asia/Shanghai"} | change
    r = world.admin.put(f"/orgs/{org}/roster", json={"shifts": [shift]})
    assert r.status_code == 422, r.text
    assert field in r.text


def test_bad_overrides_and_people_of_other_organizations_are_422(world: World):
    org = world.orgs["prop_a"]
    stranger = person(world, "prop_b", "stranger")
    wang = person(world, "prop_a", "wang")
    r = world.admin.put(f"/orgs/{org}/roster", json={"overrides": [
        {"person_id": wang, "start": "2026-12-07T13:00:00+08:00",
         "end": "2026-12-07T12:00:00+08:00", "duty": "on"}]})
    assert r.status_code == 422 and "end" in r.text
    r = world.admin.put(f"/orgs/{org}/roster", json={"overrides": [
        {"person_id": wang, "start": "2026-12-07T12:00:00+08:00",
         "end": "2026-12-07T13:00:00+08:00", "duty": "maybe"}]})
    assert r.status_code == 422 and "duty" in r.text
    r = world.admin.put(f"/orgs/{org}/roster", json={"shifts": [
        {"person_id": stranger, "weekday": 1, "start": "08:00", "end": "20:00"}]})
    assert r.status_code == 422 and "shifts.0.person_id" in r.text
    r = world.admin.get(f"/orgs/{org}/on-duty", params={"at": "2026-12-07T12:00:00"})
    assert r.status_code == 422 and "at" in r.text
    assert world.admin.get(f"/orgs/{org}/on-duty", params={"at": "soon"}).status_code == 422


def test_channels_keep_their_secrets_and_never_show_them(world: World, db: psycopg.Connection):
    org = world.orgs["prop_a"]
    wang = person(world, "prop_a", "wang")
    boss = manager_of(world, "prop_a")
    body = ok(boss.put(f"/orgs/{org}/channels", json={
        "channels": [
            {"kind": "dingtalk", "target": ROBOT, "secret": SECRET},
            {"person_id": wang, "kind": "email", "target": "wang@example.org", "lang": "en"},
            {"person_id": wang, "kind": "sms", "target": "+8613800000000"}],
        "sms_gateway": {"url": "https://sms.example.org/send", "body": '{"to": "$phone"}',
                        "api_key": SMS_KEY, "daily_cap": 50, "signing": "aliyun"}}))
    member_view = world.as_("prop_a").get(f"/orgs/{org}/channels")
    for text in (str(body), member_view.text):
        assert SECRET not in text and "the-access-token" not in text and SMS_KEY not in text
    robot = body["channels"][0]
    assert robot["secret"] == "****" + SECRET[-4:]
    assert robot["target"] == "https://oapi.dingtalk.com/****"
    assert body["sms_gateway"]["api_key"] == "****" + SMS_KEY[-4:]
    assert body["sms_gateway"]["signing"] == "aliyun"
    bad = boss.put(f"/orgs/{org}/channels", json={"channels": [], "sms_gateway": {
        "url": "https://sms.example.org/send", "body": "x", "signing": "md5"}})
    assert bad.status_code == 422 and "signing" in bad.text
    assert [c["target"] for c in body["channels"][1:]] == ["wang@example.org",
                                                           "+8613800000000"]
    # sending the masked view back (with ids) keeps the robot's URL and secret
    again = [{"id": c["id"], "person_id": c["person_id"], "kind": c["kind"],
              "lang": c["lang"]} for c in body["channels"]]
    ok(boss.put(f"/orgs/{org}/channels", json={"channels": again}))
    row = db.execute("SELECT target, secret FROM contact_channels WHERE id = %s "
                     "AND removed_at IS NULL", (robot["id"],)).fetchone()
    assert row == (ROBOT, SECRET)
    assert db.execute("SELECT api_key FROM sms_gateways").fetchone() == (SMS_KEY,)
    # a channel not named goes; null removes the gateway
    ok(boss.put(f"/orgs/{org}/channels", json={"channels": again[:1], "sms_gateway": None}))
    shown = ok(boss.get(f"/orgs/{org}/channels"))
    assert [c["id"] for c in shown["channels"]] == [robot["id"]]
    assert shown["sms_gateway"] is None


@pytest.mark.parametrize(("channel", "field"), [
    ({"kind": "email", "target": "not-an-address"}, "channels.0.target"),
    ({"kind": "sms", "target": "call me"}, "channels.0.target"),
    ({"kind": "wecom", "target": "ftp://robot.example.org/x"}, "channels.0.target"),
    ({"kind": "pager", "target": "123"}, "kind"),
    ({"kind": "email"}, "channels.0.target"),
    ({"kind": "email", "target": "a@example.org", "id": 12345}, "channels.0.id"),
    ({"kind": "email", "target": "a@example.org", "person_id": 12345},
     "channels.0.person_id"),
    ({"kind": "email", "target": "a@example.org", "lang": "fr"}, "lang"),
    ({"kind": "email", "target": "a@example.org",
      "quiet_hours": {"from": "22:00", "until": "25:00"}}, "until"),
    ({"kind": "email", "target": "a@example.org",
      "quiet_hours": {"from": "22:00", "until": "07:00", "time_zone": "Mars/Olympus"}},
     "time_zone")])
def test_a_bad_channel_is_a_422_naming_its_field(world: World, channel: dict, field: str):
    r = world.admin.put(f"/orgs/{world.orgs['prop_a']}/channels", json={"channels": [channel]})
    assert r.status_code == 422, r.text
    assert field in r.text


def test_quiet_hours_of_a_channel_are_kept_and_shown(world: World):
    org = world.orgs["prop_a"]
    quiet = {"from": "22:30", "until": "07:00", "time_zone": "Asia/Shanghai"}
    body = ok(world.admin.put(f"/orgs/{org}/channels", json={"channels": [
        {"kind": "email", "target": "duty@example.org", "quiet_hours": quiet},
        {"kind": "email", "target": "night@example.org"}]}))
    assert [c["quiet_hours"] for c in body["channels"]] == [quiet, None]
    assert ok(world.as_("prop_a").get(f"/orgs/{org}/channels"))["channels"][0][
        "quiet_hours"] == quiet


def test_an_sms_template_with_an_unknown_placeholder_is_a_422(world: World):
    r = world.admin.put(f"/orgs/{world.orgs['prop_a']}/channels", json={
        "sms_gateway": {"url": "https://sms.example.org/send", "body": "$phone $password"}})
    assert r.status_code == 422 and "$password" in r.text and "sms_gateway" in r.text


def test_a_case_shows_its_notifications(world: World, db: psycopg.Connection):
    raise_alert(db, "E1", "trapped_passenger", "critical")
    [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
    db.execute("INSERT INTO case_notifications (case_ids, org_id, recipient, channel, target, "
               "change, message, state) VALUES (%s, %s, 'Wang', 'sms', '138****0000', "
               "'opened', '{}', 'delivered')", ([case_id], world.orgs["prop_a"]))
    body = ok(world.as_("maint_1").get(f"/cases/{case_id}"))
    [n] = body["notifications"]
    assert (n["recipient"], n["channel"], n["target"], n["state"]) == (
        "Wang", "sms", "138****0000", "delivered")
    assert "message" not in n
    assert world.as_("prop_b").get(f"/cases/{case_id}").status_code == 404
