"""Notifications: signed webhooks retried after a failing receiver, storm control, and the
alert object on MQTT lift/{id}/alerts. Real database, real HTTP server, real broker."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Iterator
from dataclasses import replace

import paho.mqtt.client as mqtt
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from rules.notify import signing
from rules.notify.dispatch import Notifier
from rules.notify.mqtt import AlertPublisher
from rules.notify.storm import StormControl
from rules.notify.webhooks import Sender
from rules.policy import Policy, Storm, Webhooks
from storage import alerts, webhooks
from storage.alerts import changes
from storage.db import make_pool
from tests.builders import Fleet, raise_alerts, seed_fleet
from tests.helpers import wait_until
from tests.rules.receivers import Receiver

SECRET = "a-webhook-secret-of-some-length"
POLICY = replace(Policy(), webhooks=Webhooks(timeout_s=2, max_attempts=5, backoff_s=0.05),
                 storm=Storm(threshold=3, window_s=60, settle_s=5))


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


@pytest.fixture()
def pool(pg_url: str, db: psycopg.Connection) -> Iterator[ConnectionPool]:
    p = make_pool(pg_url, name="test-notify", max_size=6)
    try:
        yield p
    finally:
        p.close()


def raise_(conn, fleet: Fleet, *eids: str, kind: str = "power_loss",
           severity: str = "major") -> list[int]:
    """Raised as the rules would; a major alert also opens (or joins) a fault case."""
    return raise_alerts(conn, list(eids), kind, severity)


def test_webhooks_are_signed_and_retried_until_the_receiver_answers(db, fleet, pool):
    with Receiver(fail_first=2) as receiver:
        hook = webhooks.create(db, org_id=fleet.orgs["prop_a"], url=receiver.url,
                               secret=SECRET)
        notifier = Notifier(pool, POLICY, publisher=None)
        sender = Sender(pool, POLICY.webhooks, allow_private=True)  # a local receiver
        try:
            # minor: no case opens, so the alert's is the only message
            [alert_id] = raise_(db, fleet, "E1", severity="minor")
            assert notifier.run_once() == 1
            wait_until(lambda: sender.run_once() is not None and receiver.delivered(), 10,
                       message="a delivery that succeeds")
        finally:
            sender.close()
    assert [r.answered for r in receiver.requests] == [500, 500, 200]
    ids = {r.headers[signing.DELIVERY_HEADER] for r in receiver.requests}
    assert len(ids) == 1  # one message, three attempts
    assert [r.headers[signing.ATTEMPT_HEADER] for r in receiver.requests] == ["1", "2", "3"]
    for r in receiver.requests:
        assert signing.verify(secret=SECRET, body=r.body,
                              signature=r.headers[signing.SIGNATURE_HEADER])
        assert not signing.verify(secret="another secret", body=r.body,
                                  signature=r.headers[signing.SIGNATURE_HEADER])
        assert r.headers[signing.EVENT_HEADER] == "alert.raised"
        assert int(r.headers[signing.TIMESTAMP_HEADER]) > 1_700_000_000
        # v2: the timestamp is signed with the body, and an old one is refused.
        v2 = r.headers[signing.SIGNATURE_256_HEADER]
        sent_at = int(r.headers[signing.TIMESTAMP_HEADER])
        assert v2.startswith(f"t={sent_at},v1=")
        assert signing.verify_timestamped(secret=SECRET, body=r.body, header=v2)
        assert not signing.verify_timestamped(secret=SECRET, body=r.body + b" ", header=v2)
        assert not signing.verify_timestamped(secret=SECRET, body=r.body, header=v2,
                                              now=sent_at + 301)
        forged = v2.replace(f"t={sent_at}", f"t={sent_at + 100}")
        assert not signing.verify_timestamped(secret=SECRET, body=r.body, header=forged,
                                              now=sent_at + 100)
    body = receiver.requests[-1].json
    assert body["event"] == "alert.raised" and body["id"] == ids.pop()
    assert body["alert"]["id"] == alert_id and body["alert"]["elevator_id"] == "E1"
    assert body["org"]["id"] == fleet.orgs["prop_a"]
    rows = db.execute("SELECT attempt, status, response_code, next_try_at IS NOT NULL, error "
                      "FROM webhook_deliveries WHERE webhook_id = %s ORDER BY attempt",
                      (hook["id"],)).fetchall()
    assert [r[:4] for r in rows] == [(1, "failed", 500, True), (2, "failed", 500, True),
                                     (3, "delivered", 200, False)]
    assert rows[0][4].startswith("HTTP 500")
    outcomes = [e["details"].get("outcome") for e in alerts.events(db, alert_id=alert_id)
                if e["action"] == "notified" and e["details"]["channel"] == "webhook"]
    assert outcomes == ["retry", "retry", "delivered"]
    # The receiver's answer stays in the deliveries (admins); the alert's trail, which
    # every organization that sees the alert reads, has the outcome only.
    trail = str(alerts.events(db, alert_id=alert_id))
    assert "HTTP 500" not in trail and receiver.url not in trail


def test_a_private_address_is_refused_at_delivery_unless_allowed(db, fleet, pool):
    with Receiver() as receiver:
        # Created straight in the database (the API refuses it): as if DNS had changed.
        hook = webhooks.create(db, org_id=fleet.orgs["prop_a"],
                               url=receiver.url.replace("http://", "https://"), secret=SECRET)
        plain = webhooks.create(db, org_id=fleet.orgs["prop_a"], url=receiver.url,
                                secret=SECRET)
        sender = Sender(pool, replace(POLICY.webhooks, max_attempts=1))
        try:
            # minor: no case, so the two deliveries are the alert's
            [alert_id] = raise_(db, fleet, "E1", kind="leveling_error", severity="minor")
            Notifier(pool, POLICY, publisher=None).run_once()
            assert sender.run_once() == 2
        finally:
            sender.close()
        assert receiver.requests == []
    rows = dict(db.execute(
        "SELECT webhook_id, (status, response_code, error) FROM webhook_deliveries").fetchall())
    for webhook_id, why in ((hook["id"], "loopback address (127.0.0.1)"),
                            (plain["id"], "must be an https:// URL")):
        status, code, error = rows[webhook_id]
        assert status == "failed" and code is None
        assert error.startswith("refused, not sent:") and why in error, error
    events = [e for e in alerts.events(db, alert_id=alert_id) if e["action"] == "notified"
              and e["details"]["channel"] == "webhook"]
    assert [e["details"]["outcome"] for e in events] == ["gave_up", "gave_up"]
    assert all("error" not in e["details"] for e in events)


def test_a_receiver_that_never_answers_is_given_up_after_max_attempts(db, fleet, pool):
    policy = replace(POLICY, webhooks=Webhooks(timeout_s=1, max_attempts=2, backoff_s=0.05))
    with Receiver(fail_first=100) as receiver:
        webhooks.create(db, org_id=fleet.orgs["prop_a"], url=receiver.url, secret=SECRET)
        sender = Sender(pool, policy.webhooks, allow_private=True)
        try:
            raise_(db, fleet, "E1", severity="minor")
            Notifier(pool, policy, publisher=None).run_once()
            wait_until(lambda: sender.run_once() is not None and len(receiver.requests) >= 2,
                       10, message="two attempts")
            for _ in range(3):
                sender.run_once()
        finally:
            sender.close()
    assert len(receiver.requests) == 2
    rows = db.execute("SELECT attempt, status, next_try_at FROM webhook_deliveries "
                      "ORDER BY attempt").fetchall()
    assert rows == [(1, "failed", rows[0][2]), (2, "failed", None)]


def test_a_storm_at_one_site_is_one_grouped_notification(db, fleet, pool):
    for eid in ("E4", "E5", "E6", "E7"):
        fleet.add_elevator(db, eid, "S1")
    now = [1_800_000_000.0]
    with Receiver() as receiver:
        webhooks.create(db, org_id=fleet.orgs["prop_a"], url=receiver.url, secret=SECRET)
        notifier = Notifier(pool, POLICY, publisher=None, clock=lambda: now[0])
        sender = Sender(pool, POLICY.webhooks, clock=lambda: now[0], allow_private=True)
        try:
            ids = raise_(db, fleet, "E1", "E3", "E4", "E5", "E6", "E7")
            notifier.run_once()
            now[0] += 1
            ids += raise_(db, fleet, "E1", kind="alarm_pressed")  # another kind: on its own
            notifier.run_once()
            now[0] += POLICY.storm.settle_s
            notifier.run_once()
            now[0] += 1
            notifier.run_once()  # nothing new: nothing more
            wait_until(lambda: sender.run_once() == 0 and len(receiver.requests) >= 7, 10,
                       message="seven messages")
        finally:
            sender.close()
    events = [r.json["event"] for r in receiver.requests]
    # Each major alert opened its elevator's fault case: the case messages storm alike
    # (alarm_pressed joined E1's case, which tells nobody by webhook).
    assert sorted(e for e in events if e.startswith("case")) == [
        "case.opened", "case.opened", "cases.opened"]
    [cases] = [r.json for r in receiver.requests if r.json["event"] == "cases.opened"]
    assert cases["elevators"] == ["E1", "E3", "E4", "E5", "E6", "E7"]
    assert cases["kind"] == "fault" and cases["storm"]["size"] == 6
    assert {c["elevator_id"] for c in cases["cases"]} == set(cases["elevators"])
    events = [e for e in events if e.startswith("alert")]
    assert sorted(events) == ["alert.raised", "alert.raised", "alert.raised", "alerts.raised"]
    [group] = [r.json for r in receiver.requests if r.json["event"] == "alerts.raised"]
    assert group["elevators"] == ["E1", "E3", "E4", "E5", "E6", "E7"]
    assert group["kind"] == "power_loss" and group["site"]["id"] == fleet.sites["S1"]
    assert group["storm"]["size"] == 6 and len(group["alerts"]) == 6
    [raw] = [r for r in receiver.requests if r.json["event"] == "alerts.raised"]
    assert signing.verify(secret=SECRET, body=raw.body,
                          signature=raw.headers[signing.SIGNATURE_HEADER])
    singles = sorted(r.json["alert"]["kind"] for r in receiver.requests
                     if r.json["event"] == "alert.raised")
    assert singles == ["alarm_pressed", "power_loss", "power_loss"]
    # The alerts themselves still exist one per elevator.
    assert db.execute("SELECT count(*) FROM alerts WHERE kind = 'power_loss' "
                      "AND state = 'open'").fetchone() == (6,)


def test_storm_control_decides_per_key():
    storm = StormControl(Storm(threshold=3, window_s=60, settle_s=5))
    assert storm.offer("k", 1, now=0) and storm.offer("k", 2, now=1)
    assert storm.offer("other", 9, now=1)
    assert not storm.offer("k", 3, now=2) and not storm.offer("k", 4, now=3)
    assert storm.due(now=6) == []
    [group] = storm.due(now=7)
    assert group.items == [1, 2, 3, 4] and group.storm_size == 4
    assert not storm.offer("k", 5, now=30)  # the storm goes on
    [group] = storm.due(now=35)
    assert group.items == [5] and group.storm_size == 5
    assert storm.due(now=200) == [] and storm.active() == 0
    assert storm.offer("k", 6, now=201)  # quiet for a window: one by one again


def test_storm_control_counts_one_case_changing_again_and_again_once():
    storm = StormControl(Storm(threshold=3, window_s=60, settle_s=5))
    assert all(storm.offer("k", n, now=n, ident="case 1") for n in range(5))
    assert storm.offer("k", "b", now=6, ident="case 2")
    assert not storm.offer("k", "c", now=7, ident="case 3")  # three cases: a storm


def test_every_state_change_is_published_on_the_alerts_topic(db, fleet, pool, settings):
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    subscribed = []
    sub.on_subscribe = lambda *a: subscribed.append(True)
    sub.on_connect = lambda c, *a: c.subscribe(settings.topic("lift/+/alerts"), qos=1)
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
        [alert_id] = raise_(db, fleet, "E1")
        with db.transaction():
            changes.acknowledge(db, alert_id=alert_id, actor="property:prop_a", org_id=None,
                                note="on my way")
        notifier.run_once()
        first, second = got.get(timeout=10), got.get(timeout=10)
    finally:
        publisher.stop()
        sub.disconnect()
        sub.loop_stop()
    assert first.topic == settings.topic("lift/E1/alerts") and first.qos == 1
    assert not first.retain
    one, two = json.loads(first.payload), json.loads(second.payload)
    assert set(one) >= {"id", "elevator_id", "kind", "severity", "state", "opened_at",
                        "updated_at", "acknowledged_at", "acknowledged_by", "resolved_at",
                        "resolved_by", "note", "escalation_level", "details"}
    assert (one["id"], one["state"], one["kind"]) == (alert_id, "open", "power_loss")
    assert (two["state"], two["acknowledged_by"], two["note"]) == (
        "acknowledged", "property:prop_a", "on my way")


def test_a_raise_with_nobody_at_the_first_levels_calls_the_next_level_at_once():
    from rules.notify.dispatch import recipients

    street = {"id": 8, "name": "street", "kind": "street", "level": 2}
    sup = {"id": 5, "name": "sup", "kind": "supervision", "level": 3}
    told = recipients(change="raised", alert={"escalation_level": 0}, details={},
                      chain=[street, sup])
    assert [(o["name"], level) for o, level in told] == [("street", 2)]
    prop = {"id": 1, "name": "prop", "kind": "property", "level": 0}
    told = recipients(change="raised", alert={"escalation_level": 0}, details={},
                      chain=[prop, street, sup])
    assert [o["name"] for o, _ in told] == ["prop"]
