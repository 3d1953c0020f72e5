"""Silences in the notifier (issue 15), with a real database and real receivers: a
silenced alert is still recorded, opens its case and counts, but its notifications (and
its case's) wait until the silence is over; a life-safety kind is never held, even by a
silence written past the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from rules.notify.dispatch import Notifier
from rules.notify.people import ChannelSender, Router
from rules.notify.webhooks import Sender
from rules.policy import Channels, Policy, Webhooks
from storage import access, alerts, cases, rosters, silences, webhooks
from storage.cases import notifications
from storage.db import make_pool
from tests.builders import Fleet, raise_alert, seed_fleet
from tests.helpers import wait_until
from tests.rules.receivers import Receiver
from tests.rules.robots import Robot

POLICY = replace(Policy(), webhooks=Webhooks(timeout_s=2, max_attempts=2, backoff_s=0.01),
                 channels=Channels(timeout_s=2, max_attempts=2, backoff_s=0.01))


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


@pytest.fixture()
def pool(pg_url: str, db: psycopg.Connection) -> Iterator[ConnectionPool]:
    p = make_pool(pg_url, name="test-silences", max_size=4)
    try:
        yield p
    finally:
        p.close()


def reachable(db: psycopg.Connection, fleet: Fleet, robot: Robot, receiver: Receiver) -> None:
    prop = fleet.orgs["prop_a"]
    wang = int(access.create_person(db, org_id=prop, login="wang", name="Wang Li",
                                    password="a-long-password", phone=None, manager=False,
                                    created_by="test")["id"])
    rosters.replace_roster(db, org_id=prop, by="test", overrides=[], shifts=[
        {"person_id": wang, "weekday": d, "start": time(0), "end": time(0),
         "time_zone": "UTC"} for d in range(1, 8)])
    rosters.replace_channels(db, org_id=prop, channels=[
        {"person_id": wang, "kind": "wecom", "target": f"{robot.base}/x", "lang": "en"}])
    webhooks.create(db, org_id=prop, url=f"{receiver.url}/prop_a",
                    secret="a-webhook-secret-of-some-length")


def test_a_silenced_alert_is_recorded_and_its_notifications_wait(db, fleet, pool, tmp_path):
    with Robot() as robot, Receiver() as receiver:
        reachable(db, fleet, robot, receiver)
        sid = silences.create(db, elevator_pk=fleet.pks["E1"], site_id=None,
                              kinds=["door_fault"], reason="door modernisation",
                              owner="maintenance:maint_1/Li", org_id=fleet.orgs["maint_1"],
                              expires_at=datetime.now(UTC) + timedelta(hours=1))
        notifier = Notifier(pool, POLICY, publisher=None, people=Router(base_url="http://w"))
        hooks = Sender(pool, POLICY.webhooks, allow_private=True)
        people = ChannelSender(pool, Settings(
            data_dir=tmp_path), POLICY.channels, allow_private=True)
        try:
            alert_id = raise_alert(db, "E1", "door_fault", "major")
            [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
            notifier.run_once()
            assert hooks.run_once() == 0 and people.run_once() == 0
            assert notifications.for_case(db, case_id=case_id) == []
            # still recorded and counted
            assert alerts.get(db, alert_id=alert_id)["state"] == "open"
            held = [e["details"] for e in alerts.events(db, alert_id=alert_id)
                    if e["action"] == "notified"]
            assert held == [{"channel": "silence", "silence_id": sid, "event": "alert.raised",
                             "held": True}]
            assert [e["details"]["channel"] for e in cases.events(db, case_id=case_id)
                    if e["action"] == "notified"] == ["silence"]
            # over: what it held goes out once
            silences.end(db, silence_id=sid, by="supervision:sup_d1/Zhao")
            notifier.run_once()
            notifier.run_once()
            wait_until(lambda: hooks.run_once() == 0 and len(receiver.delivered()) >= 2, 10,
                       message="the held webhooks")
            wait_until(lambda: people.run_once() == 0 and robot.requests(), 10,
                       message="the held message to the person on duty")
            notifier.run_once()
        finally:
            hooks.close()
            people.close()
    assert sorted(r.json["event"] for r in receiver.requests) == [
        "alert.unsilenced", "case.unsilenced"]
    [got] = robot.requests()
    assert "a silence is over" in got.json["markdown"]["content"]
    assert db.execute("SELECT released_at IS NOT NULL FROM silences").fetchone() == (True,)


def test_a_life_safety_kind_is_never_held(db, fleet, pool, tmp_path):
    with Robot() as robot, Receiver() as receiver:
        reachable(db, fleet, robot, receiver)
        # written past the API, which refuses it: the notifier ignores it all the same
        db.execute("INSERT INTO silences (elevator_pk, kinds, reason, owner, expires_at) "
                   "VALUES (%s, %s, 'bad', 'x', now() + interval '1 hour')",
                   (fleet.pks["E1"], ["trapped_passenger", "door_fault"]))
        notifier = Notifier(pool, POLICY, publisher=None, people=Router(base_url="http://w"))
        hooks = Sender(pool, POLICY.webhooks, allow_private=True)
        people = ChannelSender(pool, Settings(
            data_dir=tmp_path), POLICY.channels, allow_private=True)
        try:
            raise_alert(db, "E1", "trapped_passenger", "critical")
            notifier.run_once()
            wait_until(lambda: hooks.run_once() == 0 and len(receiver.delivered()) >= 2, 10,
                       message="the rescue's webhooks")
            wait_until(lambda: people.run_once() == 0 and robot.requests(), 10,
                       message="the rescue's message")
        finally:
            hooks.close()
            people.close()
    assert sorted(r.json["event"] for r in receiver.requests) == ["alert.raised",
                                                                  "case.opened"]
    assert robot.requests()[0].json["markdown"]["content"].startswith("**RESCUE")
