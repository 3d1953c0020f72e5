"""The rules service as a whole: fed by the ingester (with a tiny fake engine) and
standalone on the rules feed with the real engine, end to end: alerts raised, published, escalated,
resolved by hand (the engine is told), cleared, and the rule state saved and restored."""

from __future__ import annotations

import json
import queue
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest

from core.codec import Sample, Telemetry
from core.partitions import PARTITIONS
from core.stream import Committed
from ingest import Ingester
from rules import RulesService, lifecycle
from rules.policy import Policy, Rescue, Timers
from rules.transitions import Transition
from storage import alerts, records
from storage.alerts import changes
from tests.builders import Fleet, seed_fleet
from tests.helpers import Publisher, wait_until

FAST = replace(Policy(), step_s={"critical": 0.3, "major": 0.3, "minor": 60, "warning": 60},
               timers=Timers(tick_s=0.2, escalate_s=0.1, calendar_s=60, persist_s=0.3,
                             refresh_s=0.5, outbox_s=0.1, webhooks_s=0.1))


class FakeEngine:
    """Raises alarm_pressed while a sample says alarm, clears it when one does not."""

    def __init__(self, infos: list[dict[str, Any]]) -> None:
        self.infos = {i["pk"]: i for i in infos}
        self.samples = 0
        self.open: set[tuple[int, str]] = set()
        self.synced: list[set[tuple[int, str]]] = []
        self.restored: dict[int, bytes] = {}
        self.loads: list[list[int]] = []  # the pks of each set_elevators call

    def set_elevators(self, infos: list[dict[str, Any]]) -> None:
        """Add or update, like the real engine."""
        self.loads.append([i["pk"] for i in infos])
        self.infos.update({i["pk"]: i for i in infos})

    def process(self, batch: Committed, now_us: int | None = None) -> list[Transition]:
        out = []
        for eid, pk, msg in batch.messages:
            for s, ts in zip(msg.samples, msg.ts_us, strict=True):
                self.samples += 1
                key = (pk, "alarm_pressed")
                if s.alarm and key not in self.open:
                    self.open.add(key)
                    out.append(Transition(eid, pk, "alarm_pressed", "raise", ts, "major",
                                      {"floor": s.floor}))
                elif not s.alarm and key in self.open:
                    self.open.discard(key)
                    out.append(Transition(eid, pk, "alarm_pressed", "clear", ts, "major", {}))
        return out

    def tick(self, now_us: int) -> list[Transition]:
        return []

    def snapshot(self, only_dirty: bool = False) -> dict[int, bytes]:
        return {pk: f"seen {self.samples}".encode() for pk in self.infos}

    def restore(self, blobs: dict[int, bytes]) -> None:
        self.restored = dict(blobs)

    def sync_open(self, open_alerts) -> None:
        self.open = {k for k in open_alerts if k[1] == "alarm_pressed"}
        self.synced.append(set(self.open))


class FakeEngines:
    """An engine factory that keeps the engines it built (one per test, no global)."""

    def __init__(self) -> None:
        self.built: list[FakeEngine] = []

    def __call__(self, infos: list[dict[str, Any]]) -> FakeEngine:
        self.built.append(FakeEngine(infos))
        return self.built[-1]


def sample(ts_ms: int, seq: int, **kw: Any) -> Sample:
    return Sample(ts=ts_ms, seq=seq, floor=kw.pop("floor", 2), speed_mps=kw.pop("speed", 0.0),
                  door=kw.pop("door", "closed"), **kw)


def batch(fleet: Fleet, eid: str, *samples: Sample) -> Committed:
    return Committed([(eid, fleet.pks[eid], Telemetry(list(samples),
                                                      [s.ts * 1000 for s in samples]))], [])


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


def test_fed_by_the_ingester_escalates_syncs_and_keeps_its_state(settings, db, fleet):
    engines = FakeEngines()
    service = RulesService(settings, policy=FAST, engine_factory=engines, mqtt=False)
    service.start(external_feed=True)
    try:
        assert service.wait_ready(10)
        t = int(time.time() * 1000)
        # The ingester hands over only samples new to the store (a redelivery never
        # reaches feed(): tests/ingest/test_ingest.py checks that side).
        service.feed(batch(fleet, "E1", sample(t, 1, alarm=True)))
        row = wait_until(lambda: db.execute(
            "SELECT id, escalation_level FROM alerts WHERE kind = 'alarm_pressed' "
            "AND escalation_level = 3").fetchone(), 10, message="the alert at the top")
        alert_id = row[0]
        steps = [e["details"]["level"] for e in alerts.events(db, alert_id=alert_id)
                 if e["action"] == "escalated"]
        assert steps == [1, 2, 3]
        engine = engines.built[-1]
        assert engine.samples == 1  # what was handed over reached the engine once
        # Resolved by hand elsewhere (as the API does): the engine is told.
        assert engine.synced == [set()]  # at start
        assert engine.open == {(fleet.pks["E1"], "alarm_pressed")}
        with db.transaction():
            changes.resolve(db, alert_id=alert_id, actor="property:prop_a", org_id=None,
                            note="reset the button")
        wait_until(lambda: len(engine.synced) == 2, 10, message="the engine to be told")
        assert engine.synced[-1] == set() and engine.open == set()
        # The condition again: a new alert.
        service.feed(batch(fleet, "E1", sample(t + 1000, 2, alarm=True)))
        wait_until(lambda: db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2, 10,
                   message="a second alert")
        service.feed(batch(fleet, "E1", sample(t + 2000, 3, alarm=False)))
        wait_until(lambda: db.execute("SELECT count(*) FROM alerts WHERE state = 'resolved' "
                                      "AND resolved_by LIKE 'whistle%'").fetchone()[0] == 1,
                   10, message="the automatic clear")
    finally:
        service.stop()
    blobs = dict(db.execute("SELECT elevator_pk, blob FROM rule_state").fetchall())
    assert blobs == {pk: b"seen 3" for pk in fleet.pks.values()}
    again = RulesService(settings, policy=FAST, engine_factory=engines, mqtt=False)
    again.start(external_feed=True)
    try:
        assert engines.built[-1].restored == blobs
    finally:
        again.stop()


@pytest.fixture()
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    # The test dates its clearing samples up to 16 s ahead of the clock (past min_open_s
    # without waiting): allow that skew.
    path.write_text("[engine]\nfuture_skew_s = 30.0\n\n[rules.offline]\ntimeout_s = 2.0\n")
    return path


def test_standalone_with_the_real_engine_end_to_end(settings, db, fleet, mqtt_url,
                                                    rules_file: Path):
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    ready = []
    sub.on_connect = lambda c, *a: c.subscribe(settings.topic("lift/E1/alerts"), qos=1)
    sub.on_subscribe = lambda *a: ready.append(True)
    sub.on_message = lambda _c, _u, m: got.put(json.loads(m.payload))
    host, port = settings.mqtt_host_port
    sub.connect(host, port)
    sub.loop_start()
    pub = Publisher(mqtt_url)
    # Standalone: the ingester writes what was new to the rules feed, which the rules
    # process reads for the partitions it leases (here all of them).
    ingester = Ingester(settings)
    ingester.start()
    service = RulesService(settings, policy=FAST, rules_file=rules_file)
    service.start()
    try:
        assert ingester.wait_subscribed(10)
        assert service.wait_ready(15)
        assert service.owned is not None and len(service.owned.epochs) == PARTITIONS
        wait_until(lambda: ready, 10, message="the alerts subscription")
        topic = settings.topic("lift/E1/telemetry")
        t = int(time.time() * 1000)
        pub.publish(topic, {"ts": t, "seq": 0, "floor": 1, "speed_mps": 0.6, "door": "open",
                            "pos_m": 3.0})
        pub.publish(settings.topic("lift/NOPE/telemetry"), {"ts": t, "floor": 1,
                                                           "speed_mps": 0, "door": "open"})
        pub.publish(topic, b"not json")
        raised = got.get(timeout=10)
        assert (raised["kind"], raised["state"], raised["severity"]) == (
            "door_open_while_moving", "open", "critical")
        # Stationary with doors closed, event time past the minimum open time: cleared.
        pub.publish(topic, [{"ts": t + 12_000 + i * 500, "seq": 1 + i, "floor": 1,
                             "speed_mps": 0.0, "door": "closed", "pos_m": 3.0}
                            for i in range(8)])
        seen = []
        while not seen or seen[-1]["state"] != "resolved":
            seen.append(got.get(timeout=10))
        assert seen[-1]["id"] == raised["id"]
        assert seen[-1]["resolved_by"] == "whistle: condition cleared"
        # Silence: offline within a few seconds of its (shortened) timeout.
        silent_from = time.monotonic()
        offline = wait_until(lambda: db.execute(
            "SELECT id FROM alerts WHERE kind = 'offline' AND state = 'open'").fetchone(), 10,
            message="offline")
        assert time.monotonic() - silent_from < 2.0 + 5.0
        assert offline
        # An inspector seals E2 (through the API in real life): the engine learns it at
        # once (NOTIFY), and motion of the sealed car is an alert.
        records.record_inspection(db, elevator_pk=fleet.pks["E2"], result="fail", notes=None,
                                  seal=True, next_due=None, org_id=None, recorded_by="test")
        wait_until(lambda: any(i.sealed for i in service.engine.elevators if i.id == "E2"),
                   5, message="the engine to see the seal")
        pub.publish(settings.topic("lift/E2/telemetry"), {
            "ts": int(time.time() * 1000), "floor": 0, "speed_mps": 0.5, "door": "closed"})
        wait_until(lambda: db.execute(
            "SELECT 1 FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk "
            "WHERE e.id = 'E2' AND a.kind = 'sealed_in_use'").fetchone(), 10,
            message="sealed_in_use")
        pk = fleet.pks["E1"]
        last = service.engine.last_event_us(pk)
    finally:
        service.stop()
        ingester.stop()
        pub.close()
        sub.disconnect()
        sub.loop_stop()
    # stopped: its partitions were given back at once, with their state
    assert db.execute("SELECT count(*) FROM rules_partitions WHERE owner IS NOT NULL"
                      ).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM rule_state WHERE elevator_pk = %s",
                      (pk,)).fetchone() == (1,)
    again = RulesService(settings, policy=FAST, rules_file=rules_file, mqtt=False)
    again.start(external_feed=True)
    try:
        assert again.engine.last_event_us(pk) == last
        assert "offline" in again.engine.open_kinds(pk)
    finally:
        again.stop()


def test_a_registration_loads_one_elevator_not_the_fleet(settings, db, fleet):
    engines = FakeEngines()
    slow_refresh = replace(FAST, timers=replace(FAST.timers, refresh_s=3600))
    service = RulesService(settings, policy=slow_refresh, engine_factory=engines, mqtt=False)
    service.start(external_feed=True)
    try:
        assert service.wait_ready(10)
        engine = engines.built[-1]
        known = set(engine.infos)
        assert len(known) >= 3 and engine.loads == []
        wait_until(lambda: service.outbound is not None and service.outbound.listening.is_set(),
                   10, message="LISTEN on the registry channel")
        new = fleet.add_elevator(db, "E9", "S1")
        wait_until(lambda: new in engine.infos, 10, message="the new elevator in the engine")
        assert engine.loads == [[new]], "only the named elevator was loaded"
        assert set(engine.infos) == known | {new}
    finally:
        service.stop()


def test_a_decommissioned_elevator_raises_nothing_any_more(settings, db, fleet,
                                                           rules_file: Path):
    from storage import decommission

    alert_id = changes.raise_or_update(
        db, elevator_pk=fleet.pks["E1"], kind="alarm_pressed", severity="major",
        opened_at=datetime.now(UTC), details={}, now=datetime.now(UTC)).alert_id
    service = RulesService(settings, policy=FAST, rules_file=rules_file, mqtt=False)
    service.start(external_feed=True)
    try:
        assert service.wait_ready(10)
        assert "alarm_pressed" in service.engine.open_kinds(fleet.pks["E1"])
        t = int(time.time() * 1000)
        service.feed(batch(fleet, "E1", sample(t, 1, alarm=True)))  # still pressed
        service.feed(batch(fleet, "E2", sample(t, 1)))
        wait_until(lambda: service.engine.samples >= 2, 5, message="the samples processed")
        decommission.decommission(db, elevator_pk=fleet.pks["E1"], reason="replaced",
                                  actor="admin:test", org_id=None)
        wait_until(lambda: any(i.decommissioned for i in service.engine.elevators
                               if i.id == "E1"), 5, message="the engine to see it")
        assert service.engine.open_kinds(fleet.pks["E1"]) == set()
        # its alarm and its silence raise nothing; E2's silence does (timeout 2 s), and E1
        # was silent from the same time
        service.feed(batch(fleet, "E1", sample(t + 500, 2, alarm=True)))
        wait_until(lambda: db.execute(
            "SELECT 1 FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk "
            "WHERE e.id = 'E2' AND a.kind = 'offline'").fetchone(), 10, message="E2 offline")
    finally:
        service.stop()
    assert db.execute("SELECT state, note FROM alerts WHERE id = %s",
                      (alert_id,)).fetchone() == ("resolved", "decommissioned")
    assert db.execute("SELECT count(*) FROM alerts WHERE elevator_pk = %s",
                      (fleet.pks["E1"],)).fetchone() == (1,)
    # a raise computed before the engine heard of it (or by the calendar) is not written
    raise_e1 = Transition("E1", fleet.pks["E1"], "offline", "raise", t * 1000, "major", {})
    raise_e2 = Transition("E2", fleet.pks["E2"], "power_loss", "raise", t * 1000, "major", {})
    done = lifecycle.apply(db, transitions=[raise_e1, raise_e2], now=datetime.now(UTC),
                           rescue=Rescue())
    assert [(d.elevator_pk, d.kind) for d in done] == [(fleet.pks["E2"], "power_loss")]
