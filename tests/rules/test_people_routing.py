"""Reaching the people on duty (issue 15), with a real database and real local receivers:
a case calling an organization reaches its on-duty person through their channels; a
channel that keeps failing falls back to the next (and shows in /metrics); nobody on duty
-> the organization's default channels; the daily SMS cap; reminders until the party
reports for duty or the case climbs past it. Every delivery is on the case's record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from core.cases import CaseKind
from core.settings import Settings
from rules import escalation
from rules.notify.dispatch import Notifier
from rules.notify.people import ChannelSender, Router
from rules.policy import Channels, Policy
from storage import access, cases, rosters
from storage.cases import duty, notifications, timers
from storage.db import make_pool
from tests.builders import Fleet, raise_alert, seed_fleet
from tests.helpers import wait_until
from tests.rules.robots import Robot

SECRET = "SEC-robot-secret-0123456789"
POLICY = replace(Policy(), channels=Channels(timeout_s=2, max_attempts=3, backoff_s=0.01,
                                             backoff_max_s=0.05))
BASE = "https://whistle.example.org"


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


@pytest.fixture()
def pool(pg_url: str, db: psycopg.Connection) -> Iterator[ConnectionPool]:
    p = make_pool(pg_url, name="test-people", max_size=4)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture()
def sender(pool: ConnectionPool, tmp_path) -> Iterator[ChannelSender]:
    s = ChannelSender(pool, Settings(data_dir=tmp_path), POLICY.channels, allow_private=True)
    try:
        yield s
    finally:
        s.close()


def person(db: psycopg.Connection, org_id: int, name: str) -> int:
    login = f"{name.replace(' ', '')}-{org_id}"
    return int(access.create_person(db, org_id=org_id, login=login, name=name,
                                    password="a-long-password", phone=None, manager=False,
                                    created_by="test")["id"])


def always_on_duty(db: psycopg.Connection, org_id: int, person_id: int) -> None:
    rosters.replace_roster(db, org_id=org_id, by="test", overrides=[], shifts=[
        {"person_id": person_id, "weekday": d, "start": time(0), "end": time(0),
         "time_zone": "UTC"} for d in range(1, 8)])


def drain(sender: ChannelSender, db: psycopg.Connection, case_id: int, done: int) -> list[dict]:
    """Send until ``done`` notifications of the case are finished."""
    def finished() -> list[dict] | None:
        sender.run_once()
        rows = notifications.for_case(db, case_id=case_id)
        over = [r for r in rows if r["state"] not in ("pending", "sending")]
        return rows if len(over) >= done and len(over) == len(rows) else None
    return wait_until(finished, 15, message=f"{done} finished notifications")


def test_the_on_duty_person_is_reached_and_a_failing_channel_falls_back(db, fleet, pool,
                                                                        sender):
    prop = fleet.orgs["prop_a"]
    wang = person(db, prop, "Wang Li")
    always_on_duty(db, prop, wang)
    with Robot(status=500) as broken, Robot() as ding:
        rosters.replace_channels(db, org_id=prop, channels=[
            {"person_id": wang, "kind": "wecom", "target": f"{broken.base}/send?key=k",
             "lang": "zh-CN"},
            {"person_id": wang, "kind": "dingtalk", "target": f"{ding.base}/robot/send",
             "secret": SECRET, "lang": "zh-CN"}])
        raise_alert(db, "E1", "trapped_passenger", "critical")
        [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
        Notifier(pool, POLICY, publisher=None, people=Router(base_url=BASE)).run_once()
        rows = drain(sender, db, case_id, done=3)
        assert len(broken.requests()) == 3  # max_attempts, then the next channel
        [got] = ding.requests()
    by = {(r["recipient"], r["channel"]): r for r in rows}
    assert by[("Wang Li", "wecom")]["state"] == "failed"
    assert by[("Wang Li", "wecom")]["attempt"] == 3
    assert by[("Wang Li", "dingtalk")]["state"] == "delivered"
    assert by[("Wang Li", "dingtalk")]["target"] == "http://127.0.0.1:" + ding.base.rsplit(
        ":", 1)[1] + "/****"  # a robot URL is a credential: shown masked
    # maintenance has neither roster nor channels: on the record as unreachable
    assert by[("maint_1", "none")]["state"] == "skipped"
    body = got.json["markdown"]
    assert body["title"].startswith("【紧急救援·有人被困】")
    assert f"{BASE}/cases/{case_id}" in body["text"] and "maint_1" in body["text"]
    trail = [e for e in cases.events(db, case_id=case_id) if e["action"] == "notified"
             and e["details"]["channel"] in ("wecom", "dingtalk")]
    assert sorted((e["details"]["channel"], e["details"]["outcome"]) for e in trail) == [
        ("dingtalk", "delivered"), ("wecom", "gave_up")]
    assert REGISTRY.get_sample_value("whistle_channels_failing", {"channel": "wecom"}) >= 1
    assert REGISTRY.get_sample_value("whistle_channel_deliveries_total",
                                     {"channel": "wecom", "outcome": "gave_up"}) >= 1
    [shown] = rosters.get_channels(db, org_id=prop)["channels"][:1]
    assert shown["failing"] is True and shown["kind"] == "wecom"


def test_nobody_on_duty_reaches_the_organization_s_default_channels(db, fleet, pool, sender):
    prop = fleet.orgs["prop_a"]
    wang = person(db, prop, "Wang Li")
    now = datetime.now(UTC)
    always_on_duty(db, prop, wang)
    rosters.replace_roster(db, org_id=prop, by="test", shifts=[], overrides=[
        {"person_id": wang, "start": now - timedelta(hours=1), "end": now + timedelta(hours=1),
         "duty": "off"}])
    with Robot() as personal, Robot(answer={"code": 0}) as group:
        rosters.replace_channels(db, org_id=prop, channels=[
            {"person_id": wang, "kind": "wecom", "target": f"{personal.base}/x",
             "lang": "zh-CN"},
            {"person_id": None, "kind": "feishu", "target": f"{group.base}/hook/g",
             "secret": SECRET, "lang": "en"}])
        raise_alert(db, "E3", "door_fault", "major")
        [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
        Notifier(pool, POLICY, publisher=None, people=Router(base_url=BASE)).run_once()
        rows = drain(sender, db, case_id, done=1)
        assert personal.requests() == []
        [got] = group.requests()
    assert [(r["recipient"], r["channel"], r["state"]) for r in rows] == [
        ("prop_a", "feishu", "delivered")]
    assert "new case" in got.json["content"]["text"]  # the channel's language: English


def test_the_daily_sms_cap_falls_back_to_the_next_channel(db, fleet, pool, sender):
    prop = fleet.orgs["prop_a"]
    wang = person(db, prop, "Wang Li")
    always_on_duty(db, prop, wang)
    fleet.add_elevator(db, "E4", "S1", maintenance="maint_1")
    with Robot(answer={"ok": True}) as gateway, Robot() as ding:
        rosters.put_gateway(db, org_id=prop, gw={
            "url": f"{gateway.base}/send", "method": "POST", "content_type": "application/json",
            "headers": {}, "body": '{"to": "$phone", "text": "$text"}', "api_key": "k",
            "api_secret": None, "sign_name": None, "template_id": None, "daily_cap": 1})
        rosters.replace_channels(db, org_id=prop, channels=[
            {"person_id": wang, "kind": "sms", "target": "13800000000", "lang": "zh-CN"},
            {"person_id": wang, "kind": "dingtalk", "target": f"{ding.base}/r", "lang": "zh-CN"}])
        notifier = Notifier(pool, POLICY, publisher=None, people=Router(base_url=BASE))
        raise_alert(db, "E1", "trapped_passenger", "critical")
        notifier.run_once()
        [first] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
        drain(sender, db, first, done=2)
        raise_alert(db, "E4", "trapped_passenger", "critical")
        notifier.run_once()
        [second] = [r[0] for r in db.execute("SELECT id FROM cases WHERE id <> %s",
                                              (first,)).fetchall()]
        rows = drain(sender, db, second, done=3)
        assert len(gateway.requests()) == 1 and len(ding.requests()) == 1
    mine = [(r["channel"], r["state"]) for r in rows if r["recipient"] == "Wang Li"]
    assert mine == [("sms", "skipped"), ("dingtalk", "delivered")]
    [skipped] = [r for r in rows if r["channel"] == "sms"]
    assert "daily SMS cap (1)" in skipped["error"] and skipped["target"] == "138****0000"


def test_reminders_repeat_until_the_party_reports_for_duty(db, fleet, pool, sender):
    prop = fleet.orgs["prop_a"]
    wang = person(db, prop, "Wang Li")
    always_on_duty(db, prop, wang)
    policy = replace(POLICY, cases={**POLICY.cases, CaseKind.FAULT: replace(
        POLICY.cases[CaseKind.FAULT], remind_s=60.0)})
    with Robot() as ding:
        rosters.replace_channels(db, org_id=prop, channels=[
            {"person_id": wang, "kind": "dingtalk", "target": f"{ding.base}/r",
             "lang": "en"}])
        notifier = Notifier(pool, policy, publisher=None, people=Router(base_url=BASE))
        raise_alert(db, "E1", "door_fault", "major")
        [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
        notifier.run_once()
        start = datetime.now(UTC)
        with db.transaction():  # not yet: less than a minute since the call
            assert timers.remind_due(db, now=start + timedelta(seconds=30),
                                     remind_s={"fault": 60.0}) == []
        for minute in (1, 2):
            with db.transaction():
                done = timers.remind_due(db, now=start + timedelta(minutes=minute, seconds=1),
                                         remind_s={"fault": 60.0})
            assert [c.change for c in done] == ["reminder"]
            notifier.run_once()
        with db.transaction():
            duty.lock(db, case_id=case_id)
            duty.duty(db, case_id=case_id, actor="property:prop_a/Wang Li", org_id=prop,
                      org_kind="property", note=None)
        notifier.run_once()
        # on duty: no more reminders for the property company; maintenance (no channel)
        # is still reminded, and is on the record as unreachable
        with db.transaction():
            later = timers.remind_due(db, now=start + timedelta(minutes=5),
                                      remind_s={"fault": 60.0})
        notifier.run_once()
        rows = drain(sender, db, case_id, done=6)
        texts = [g.json["markdown"]["text"] for g in ding.requests()]
    assert [c.change for c in later] == ["reminder"]
    mine = [r["change"] for r in rows if r["recipient"] == "Wang Li"]
    assert mine == ["opened", "reminder", "reminder"]
    assert sum("reminder: your organization has not reported for duty" in t
               for t in texts) == 2
    reminded = [e["details"]["org_ids"] for e in cases.events(db, case_id=case_id)
                if e["action"] == "reminded"]
    assert reminded == [[prop, fleet.orgs["maint_1"]]] * 2 + [[fleet.orgs["maint_1"]]]


def test_reminders_stop_once_the_case_climbs_past_the_party(db, fleet, pool):
    raise_alert(db, "E1", "door_fault", "major")
    [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
    now = datetime.now(UTC) + timedelta(minutes=11)
    with db.transaction():
        timers.escalate(db, case_id=case_id, kind="fault", level=1, now=now,
                        details={"why": "unanswered"})
    with db.transaction():
        [change] = timers.remind_due(db, now=now + timedelta(seconds=1),
                                     remind_s={"fault": 600.0})
    assert change.change == "reminder"
    [event] = [e for e in cases.events(db, case_id=case_id) if e["action"] == "reminded"]
    assert event["details"]["org_ids"] == [fleet.orgs["maint_1"]]  # not prop_a (level 0)


def test_the_escalation_job_reminds_with_the_rules_file_s_interval(db, fleet):
    raise_alert(db, "E1", "door_fault", "major")
    policy = replace(Policy(), cases={**Policy().cases, CaseKind.FAULT: replace(
        Policy().cases[CaseKind.FAULT], remind_s=30.0)})
    now = datetime.now(UTC) + timedelta(seconds=31)
    done = escalation.cases_due(db, policy=policy, now=now)
    assert [d["change"] for d in done] == ["reminder"]
    assert escalation.cases_due(db, policy=policy, now=now + timedelta(seconds=1)) == []


def test_the_remind_interval_comes_from_the_rules_file_with_file_and_line(tmp_path):
    from rules.policy import PolicyError, load

    good = tmp_path / "rules.toml"
    good.write_text('[cases.fault]\nremind = "10m"\n')
    policy = load(good)
    assert policy.cases[CaseKind.FAULT].remind_s == 600.0
    assert policy.cases[CaseKind.RESCUE].remind_s == 180.0  # the default stays
    bad = tmp_path / "bad.toml"
    bad.write_text('[escalation]\ncritical = "2m"\n\n[cases.fault]\nremind = "soon"\n')
    with pytest.raises(PolicyError, match=r"bad\.toml:5: cases\.fault\.remind"):
        load(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('[cases.fault]\nremnid = "10m"\n')
    with pytest.raises(PolicyError, match="known: accept, arrive, resolve, remind"):
        load(typo)


def test_quiet_hours_hold_back_only_what_is_not_urgent(db, fleet, pool, sender):
    """A channel in its quiet hours: a major fault goes to the next channel (on the
    record), a trapped passenger goes to it all the same."""
    prop = fleet.orgs["prop_a"]
    wang = person(db, prop, "Wang Li")
    always_on_duty(db, prop, wang)
    now = datetime.now(UTC)
    around_now = {"from": (now - timedelta(hours=1)).strftime("%H:%M"),
                  "until": (now + timedelta(hours=1)).strftime("%H:%M"), "time_zone": "UTC"}
    with Robot() as phone_robot, Robot(answer={"code": 0}) as desk:
        rosters.replace_channels(db, org_id=prop, channels=[
            {"person_id": wang, "kind": "wecom", "target": f"{phone_robot.base}/x",
             "lang": "zh-CN", "quiet_hours": around_now},
            {"person_id": wang, "kind": "feishu", "target": f"{desk.base}/hook/d",
             "lang": "zh-CN"}])
        notifier = Notifier(pool, POLICY, publisher=None, people=Router(base_url=BASE))
        raise_alert(db, "E3", "door_fault", "major")
        notifier.run_once()
        [fault] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
        rows = drain(sender, db, fault, done=2)
        assert phone_robot.requests() == [] and len(desk.requests()) == 1
        mine = [(r["channel"], r["state"]) for r in rows if r["recipient"] == "Wang Li"]
        assert mine == [("wecom", "skipped"), ("feishu", "delivered")]
        [held] = [r for r in rows if r["channel"] == "wecom"]
        assert "quiet hours" in held["error"]
        raise_alert(db, "E1", "trapped_passenger", "critical")
        notifier.run_once()
        [rescue] = [r[0] for r in db.execute("SELECT id FROM cases WHERE kind = 'rescue'"
                                              ).fetchall()]
        rows = drain(sender, db, rescue, done=2)
        assert len(phone_robot.requests()) == 1  # a rescue goes through quiet hours
    assert ("wecom", "delivered") in [(r["channel"], r["state"]) for r in rows
                                      if r["recipient"] == "Wang Li"]
