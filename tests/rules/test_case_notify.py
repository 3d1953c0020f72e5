"""Case notifications: every case change on MQTT lift/{id}/cases (site/{id}/cases for a
whole-site case), case.* webhooks to the parties called (supervision too when a case is
late or overdue), each told recorded on the case's trail. Real database, real HTTP
receiver, real broker."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from core.cases import DEFAULT_LIMITS, CaseKind
from rules.notify.case_dispatch import recipients
from rules.notify.dispatch import Notifier
from rules.notify.mqtt import AlertPublisher
from rules.notify.webhooks import Sender
from rules.policy import Policy, Storm, Webhooks
from storage import cases, webhooks
from storage.cases import changes, duty, timers
from storage.db import make_pool
from tests.builders import Fleet, raise_alert, seed_fleet
from tests.helpers import wait_until
from tests.rules.receivers import Receiver

SECRET = "a-webhook-secret-of-some-length"
POLICY = replace(Policy(), webhooks=Webhooks(timeout_s=2, max_attempts=3, backoff_s=0.05),
                 storm=Storm(threshold=3, window_s=60, settle_s=5))
HOOKED = ("prop_a", "maint_1", "street_d1", "sup_d1", "sup_d2")


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


@pytest.fixture()
def pool(pg_url: str, db: psycopg.Connection) -> Iterator[ConnectionPool]:
    p = make_pool(pg_url, name="test-case-notify", max_size=6)
    try:
        yield p
    finally:
        p.close()


def case_messages(receiver: Receiver) -> list[tuple[str, str]]:
    """(event, organization) of every case message received, in order."""
    return [(r.json["event"], r.path.rsplit("/", 1)[-1]) for r in receiver.requests
            if r.json["event"].startswith("case")]


def test_each_case_change_reaches_the_parties_called_and_is_on_the_trail(db, fleet, pool):
    with Receiver() as receiver:
        for name in HOOKED:
            webhooks.create(db, org_id=fleet.orgs[name], url=f"{receiver.url}/{name}",
                            secret=SECRET)
        notifier = Notifier(pool, POLICY, publisher=None)
        sender = Sender(pool, POLICY.webhooks, allow_private=True)  # a local receiver
        try:
            raise_alert(db, "E1", "trapped_passenger", "critical")
            [case_id] = [r[0] for r in db.execute("SELECT id FROM cases").fetchall()]
            notifier.run_once()
            with db.transaction():
                duty.lock(db, case_id=case_id)
                duty.duty(db, case_id=case_id, actor="property:prop_a/Wang", org_id=fleet.orgs[
                    "prop_a"], org_kind="property", note=None)
            notifier.run_once()
            later = datetime.now(UTC) + timedelta(minutes=6)
            with db.transaction():
                assert [c.change for c in timers.flag_late(db, now=later)] == ["late"]
            notifier.run_once()
            with db.transaction():
                timers.escalate(db, case_id=case_id, kind="rescue", level=2, now=later,
                                details={"why": "overdue"})
            notifier.run_once()
            wait_until(lambda: sender.run_once() == 0 and len(case_messages(receiver)) >= 10,
                       10, message="ten case messages")
        finally:
            sender.close()
    got = sorted(case_messages(receiver))  # the sender's threads deliver in any order
    assert got == sorted([
        ("case.opened", "maint_1"), ("case.opened", "prop_a"),
        ("case.on_duty", "maint_1"), ("case.on_duty", "prop_a"),
        # late: the parties called and the district's supervision (not D2's)
        ("case.late", "maint_1"), ("case.late", "prop_a"), ("case.late", "sup_d1"),
        # escalated to level 2: everyone called up to it (the community has no webhook)
        ("case.escalated", "maint_1"), ("case.escalated", "prop_a"),
        ("case.escalated", "street_d1")])
    [body] = [r.json for r in receiver.requests if r.json["event"] == "case.escalated"
              and r.path.endswith("street_d1")]
    assert set(body) == {"id", "event", "created_at", "org", "level", "case"}
    assert body["level"] == 2 and body["case"]["id"] == case_id
    assert body["case"]["kind"] == "rescue" and body["case"]["alerts"]
    assert "contact" not in body["case"]
    trail = cases.events(db, case_id=case_id)
    told = sorted((e["details"]["event"], e["org_id"]) for e in trail
                  if e["action"] == "notified" and e["details"]["channel"] == "dispatch")
    o = fleet.orgs
    assert ("case.late", o["sup_d1"]) in told and ("case.escalated", o["street_d1"]) in told
    assert ("case.escalated", o["community_d1"]) in told  # told, even without a webhook
    assert len(told) == 11
    delivered = [e for e in trail if e["action"] == "notified"
                 and e["details"]["channel"] == "webhook"]
    assert len(delivered) == 10 and {e["details"]["outcome"] for e in delivered} == {
        "delivered"}
    rows = db.execute("SELECT DISTINCT case_ids, alert_ids FROM webhook_deliveries "
                      "WHERE event LIKE 'case.%'").fetchall()
    assert rows == [([case_id], [])]


def test_a_residents_report_joining_a_case_is_told_without_the_contact(db, fleet, pool):
    with Receiver() as receiver:
        webhooks.create(db, org_id=fleet.orgs["prop_a"], url=f"{receiver.url}/prop_a",
                        secret=SECRET)
        notifier = Notifier(pool, POLICY, publisher=None)
        sender = Sender(pool, POLICY.webhooks, allow_private=True)  # a local receiver
        try:
            raise_alert(db, "E1", "door_fault", "major")
            with db.transaction():
                _case_id, _ref, opened = changes.report(
                    db, elevator_pk=fleet.pks["E1"], site_id=fleet.sites["S1"],
                    kind=CaseKind.FAULT, category="door", description="the door hits me",
                    contact="13800000000", limits=DEFAULT_LIMITS[CaseKind.FAULT],
                    severity="major", now=datetime.now(UTC))
            assert not opened
            notifier.run_once()
            wait_until(lambda: sender.run_once() == 0 and len(case_messages(receiver)) >= 2,
                       10, message="two case messages")
        finally:
            sender.close()
    assert sorted(case_messages(receiver)) == [("case.opened", "prop_a"),
                                               ("case.reported", "prop_a")]
    [raw] = [r for r in receiver.requests if r.json["event"] == "case.reported"]
    assert b"13800000000" not in raw.body
    assert raw.json["case"]["reports"][0]["description"] == "the door hits me"


def test_recipients_are_the_parties_called_and_supervision_for_bad_news():
    case = {"parties": [
        {"org_id": 1, "org_name": "p", "kind": "property", "level": 0, "called_at": "t",
         "on_duty_at": None},
        {"org_id": 2, "org_name": "m", "kind": "maintenance", "level": 1, "called_at": None,
         "on_duty_at": None},  # required, never called: not told
        {"org_id": 3, "org_name": "r", "kind": "rescue", "level": None, "called_at": None,
         "on_duty_at": "t"}]}
    chain = [{"level": 0, "id": 1, "name": "p", "kind": "property"},
             {"level": 3, "id": 9, "name": "s", "kind": "supervision"}]
    assert [o["id"] for o, _ in recipients(change="on_duty", case=case, chain=chain)] == [1, 3]
    assert [(o["id"], lvl) for o, lvl in recipients(change="overdue", case=case,
                                                    chain=chain)] == [(1, 0), (3, None),
                                                                      (9, 3)]


def test_case_changes_are_published_on_the_elevator_or_site_cases_topic(db, fleet, pool,
                                                                        settings):
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    subscribed = []
    sub.on_subscribe = lambda *a: subscribed.append(True)
    sub.on_connect = lambda c, *a: c.subscribe([(settings.topic("lift/+/cases"), 1),
                                                (settings.topic("site/+/cases"), 1)])
    sub.on_message = lambda _c, _u, msg: got.put(msg)
    host, port = settings.mqtt_host_port
    sub.connect(host, port)
    sub.loop_start()
    publisher = AlertPublisher(settings)
    publisher.start()
    try:
        wait_until(lambda: subscribed and publisher.connected.is_set(), 10,
                   message="subscriber and publisher")
        notifier = Notifier(pool, POLICY, publisher=publisher)
        raise_alert(db, "E1", "power_loss", "major")
        with db.transaction():
            site_case, _ = changes.open_case(
                db, kind=CaseKind.COMPLAINT, site_id=fleet.sites["S1"], elevator_pk=None,
                source="org", severity="minor", description="the lobby lift is filthy",
                actor="street:street_d1", org_id=fleet.orgs["street_d1"],
                limits=DEFAULT_LIMITS[CaseKind.COMPLAINT], now=datetime.now(UTC),
                contact="13900000000")
        notifier.run_once()
        first, second = got.get(timeout=10), got.get(timeout=10)
    finally:
        publisher.stop()
        sub.disconnect()
        sub.loop_stop()
    assert first.topic == settings.topic("lift/E1/cases") and first.qos == 1
    assert not first.retain
    one = json.loads(first.payload)
    assert (one["kind"], one["state"], one["elevator_id"]) == ("fault", "open", "E1")
    assert len(one["alerts"]) == 1
    assert second.topic == settings.topic(f"site/{fleet.sites['S1']}/cases")
    two = json.loads(second.payload)
    assert (two["id"], two["elevator_id"], two["kind"]) == (site_case, None, "complaint")
    assert b"13900000000" not in second.payload and "contact" not in two
