"""Cases end to end: telemetry over the real broker -> ingester -> PostgreSQL -> rules ->
cases -> webhooks, MQTT lift/{id}/cases and the public HTTP API.

A rules file shortens the limits to seconds. A trapped passenger (occupied car, doors
closed, stationary for 30 s of event time, published as one burst of samples) opens a
rescue case; the property organization reports for duty through the API, maintenance never
does and is marked late; nobody arrives, so the case goes overdue and climbs to the street
office (level 2) and supervision (level 3), each told by webhook and every change published
on MQTT; then arrival, the rescue and the resolve with a cause. A second elevator on backup
power with its doors stuck closing raises power_loss and door_fault from telemetry, both
gathered into one fault case, which a resident's report then joins.
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest

from core.cases import DEFAULT_LIMITS, CaseKind
from core.settings import Settings
from storage import cases, registry, webhooks
from storage.cases import changes
from tests.builders import Fleet, ok, sample, seed_fleet
from tests.helpers import Publisher, now_ms, wait_until
from tests.rules.receivers import Receiver
from whistle.assembly import Whistle

pytestmark = pytest.mark.slow

RULES = """
[escalation]
critical = "2s"
[escalation.timers]
escalate = "0.2s"
[cases.rescue]
accept = "2s"
arrive = "4s"
resolve = "1h"
"""
HOOKED = ("prop_a", "prop_b", "maint_1", "street_d1", "community_d1", "sup_d1")
TIMINGS: dict[str, float] = {}


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    """The standard fleet, registered before the service starts (E1 at S1 in D1 with
    prop_a and maint_1; E2 at S2 in D2 with prop_b and maint_2)."""
    return seed_fleet(db)


@pytest.fixture()
def tokens(db: psycopg.Connection, fleet: Fleet) -> dict[str, str]:
    return {name: registry.create_token(db, org_id=org_id, label="e2e")["token"]
            for name, org_id in fleet.orgs.items()}


@pytest.fixture()
def receiver(db: psycopg.Connection, fleet: Fleet) -> Iterator[Receiver]:
    with Receiver() as r:
        for name in HOOKED:
            webhooks.create(db, org_id=fleet.orgs[name], url=f"{r.url}/{name}",
                            secret="an-end-to-end-webhook-secret")
        yield r


@pytest.fixture()
def whistle(settings: Settings, fleet: Fleet, tmp_path: Path) -> Iterator[Whistle]:
    """Ingester, rules and API in one process, exactly as `whistle serve` runs them."""
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(RULES)
    with Whistle(settings.model_copy(update={"rules_file": rules_file, "api_port": 0,
                                             # the receivers are local
                                             "webhook_allow_private": True})) as w:
        yield w


class CaseTopics:
    """A real paho subscriber to lift/+/cases, collecting the case objects."""

    def __init__(self, settings: Settings) -> None:
        self.got: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.subscribed: list[bool] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"cases-{uuid.uuid4().hex[:6]}")
        self.client.on_subscribe = lambda *a: self.subscribed.append(True)
        self.client.on_connect = lambda c, *a: c.subscribe(settings.topic("lift/+/cases"), 1)
        self.client.on_message = self._on_message
        host, port = settings.mqtt_host_port
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        assert msg.qos == 1 and not msg.retain
        self.got.put((msg.topic, json.loads(msg.payload)))

    def cases(self) -> list[tuple[str, dict[str, Any]]]:
        while not self.got.empty():
            self.seen.append(self.got.get())
        return self.seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def told(receiver: Receiver, event: str, org: str) -> list[dict[str, Any]]:
    """Bodies of the `event` webhooks delivered to an organization."""
    return [r.json for r in receiver.delivered()
            if r.json["event"] == event and r.path.endswith(f"/{org}")]


def burst(publisher: Publisher, settings: Settings, eid: str, seconds: int,
          **fields: Any) -> None:
    """`seconds` + 1 samples, one a second of event time ending now, in one message."""
    end = now_ms()
    samples = [sample(end - (seconds - i) * 1000, seq=i, **fields) for i in range(seconds + 1)]
    publisher.publish(settings.topic(f"lift/{eid}/telemetry"), samples)


def test_a_rescue_climbs_to_supervision_and_a_fault_case_gathers_its_alerts(
        settings: Settings, db: psycopg.Connection, fleet: Fleet, tokens: dict[str, str],
        receiver: Receiver, whistle: Whistle) -> None:
    t_start = time.monotonic()
    base = f"{whistle.url}/api/v1"
    api = {name: httpx.Client(base_url=base, timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
           for name, token in tokens.items()}
    admin = httpx.Client(base_url=base, timeout=10,
                         headers={"Authorization": f"Bearer {settings.admin_token}"})
    topics = CaseTopics(settings)
    publisher = Publisher(settings.mqtt_url or "")
    try:
        assert whistle.ingester is not None and whistle.ingester.wait_subscribed(15)
        wait_until(lambda: topics.subscribed, 10, message="the cases subscription")

        # --- a trapped passenger opens a rescue case --------------------------------
        t0 = time.monotonic()
        burst(publisher, settings, "E1", 31, occupied=True, door="closed", speed_mps=0.0)
        [case] = wait_until(lambda: ok(admin.get("/cases", params={
            "elevator_id": "E1", "kind": "rescue"})), 30, message="a rescue case on E1")
        TIMINGS["telemetry to rescue case"] = time.monotonic() - t0
        case_id = case["id"]
        assert case["source"] == "alert" and len(case["alerts"]) == 1
        trapped = ok(admin.get(f"/alerts/{case['alerts'][0]}"))
        assert trapped["kind"] == "trapped_passenger"
        ok(api["prop_a"].post(f"/cases/{case_id}/duty", json={"note": "on our way"}))

        # --- maintenance never reports for duty; nobody arrives -----------------------
        def level(n: int) -> dict[str, Any] | None:
            c = ok(admin.get(f"/cases/{case_id}"))
            return c if c["level"] >= n else None

        wait_until(lambda: level(3), 30, message="the case at supervision (level 3)")
        TIMINGS["rescue case opened to level 3"] = time.monotonic() - t0
        current = ok(admin.get(f"/cases/{case_id}"))
        assert current["overdue"] is True and current["state"] == "open"
        parties = {p["org_name"]: p for p in current["parties"]}
        assert parties["maint_1"]["late"] is True and parties["maint_1"]["on_duty_at"] is None
        assert parties["prop_a"]["late"] is False and parties["prop_a"]["on_duty_at"]
        assert {"street_d1", "community_d1", "sup_d1"} <= set(parties)

        escalated = wait_until(lambda: told(receiver, "case.escalated", "street_d1")
                               and told(receiver, "case.escalated", "sup_d1")
                               and told(receiver, "case.overdue", "sup_d1")
                               and told(receiver, "case.late", "sup_d1"), 15,
                               message="street and supervision told")
        assert escalated
        street = told(receiver, "case.escalated", "street_d1")
        assert [b["level"] for b in street] == [2, 3]
        sup = told(receiver, "case.escalated", "sup_d1")
        assert [b["level"] for b in sup] == [3] and sup[0]["case"]["id"] == case_id
        assert told(receiver, "case.late", "sup_d1")[0]["case"]["parties"]
        assert told(receiver, "case.opened", "prop_a") and told(receiver, "case.opened",
                                                                "maint_1")
        assert not told(receiver, "case.opened", "street_d1")  # not called at opening
        assert told(receiver, "case.on_duty", "maint_1")
        assert not any(r.path.endswith("/prop_b") for r in receiver.requests
                       if r.json.get("case", {}).get("id") == case_id)
        on_mqtt = [c for t, c in topics.cases() if t == settings.topic("lift/E1/cases")]
        assert {c["level"] for c in on_mqtt} >= {0, 2, 3}
        assert any(c["overdue"] for c in on_mqtt)

        # --- arrive, rescue, resolve --------------------------------------------------
        ok(api["prop_a"].post(f"/cases/{case_id}/arrive"))
        ok(api["prop_a"].post(f"/cases/{case_id}/rescued",
                              json={"trapped_count": 1, "injured_count": 0}))
        done = ok(api["prop_a"].post(f"/cases/{case_id}/resolve", json={
            "cause": "door_system", "note": "door operator reset, passenger out"}))
        assert (done["state"], done["cause"], done["overdue"]) == ("resolved", "door_system",
                                                                   False)
        assert ok(admin.get(f"/alerts/{trapped['id']}"))["state"] == "resolved"
        wait_until(lambda: told(receiver, "case.resolved", "sup_d1")
                   and any(c["state"] == "resolved" for t, c in topics.cases()
                           if c["id"] == case_id), 15,
                   message="the resolve told and published")
        states = [c["state"] for _t, c in topics.cases() if c["id"] == case_id]
        assert states.index("open") < states.index("on_site") < states.index("resolved")
        trail = ok(admin.get(f"/cases/{case_id}"))["events"]
        actions = [e["action"] for e in trail if e["action"] != "notified"]
        assert actions[:3] == ["opened", "alert_added", "on_duty"]
        assert {"late", "overdue", "escalated", "arrived", "rescued", "resolved"} <= set(
            actions)
        told_orgs = {e["org_id"] for e in trail if e["action"] == "notified"}
        assert {fleet.orgs["street_d1"], fleet.orgs["sup_d1"]} <= told_orgs
        TIMINGS["rescue case, whole story"] = time.monotonic() - t0

        # --- a fault case gathers power_loss and door_fault of E2 ---------------------
        t1 = time.monotonic()
        burst(publisher, settings, "E2", 62, occupied=False, load_kg=0.0, power="backup",
              door="closing", door_lock=False)

        def fault() -> dict[str, Any] | None:
            found = ok(admin.get("/cases", params={"elevator_id": "E2", "kind": "fault"}))
            return found[0] if found and len(found[0]["alerts"]) == 2 else None

        fault_case = wait_until(fault, 30, message="E2's fault case with two alerts")
        TIMINGS["telemetry to fault case with two alerts"] = time.monotonic() - t1
        kinds = {ok(admin.get(f"/alerts/{a}"))["kind"] for a in fault_case["alerts"]}
        assert kinds == {"power_loss", "door_fault"}
        assert len(ok(admin.get("/cases", params={"elevator_id": "E2"}))) == 1

        # --- a resident's report joins it ---------------------------------------------
        with db.transaction():
            joined, _reference, opened = changes.report(
                db, elevator_pk=fleet.pks["E2"], site_id=fleet.sites["S2"],
                kind=CaseKind.FAULT, category="door", description="the door keeps closing",
                contact="137 0000 0000", limits=DEFAULT_LIMITS[CaseKind.FAULT],
                severity="major", now=datetime.now(UTC))
        assert (joined, opened) == (fault_case["id"], False)
        reported = wait_until(lambda: told(receiver, "case.reported", "prop_b"), 15,
                              message="prop_b told of the report")
        assert reported[0]["case"]["report_count"] == 1
        assert "137 0000 0000" not in json.dumps(reported[0])
        assert ok(api["prop_b"].get(f"/cases/{joined}"))["reports"][0]["contact"] == (
            "137 0000 0000")
        assert cases.get(db, case_id=joined)["report_count"] == 1
        TIMINGS["whole test"] = time.monotonic() - t_start
        print("\ncase end-to-end timings (s):",
              {k: round(v, 2) for k, v in TIMINGS.items()})
    finally:
        publisher.close()
        topics.close()
        admin.close()
        for c in api.values():
            c.close()
