"""The publisher against a real broker: every message arrives; wills fire on a drop."""

from __future__ import annotations

import collections
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest

from simulators import Fleet, FleetConfig
from simulators.publisher import Publisher
from simulators.runner import run_fast, run_realtime
from tests.helpers import wait_until


class Counter:
    """A subscriber that counts what arrives under a prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        parts = urlsplit(url)
        self.lock = threading.Lock()
        self.telemetry: collections.Counter[str] = collections.Counter()
        # keyed by topic too: two elevators may send byte-identical payloads
        self.payloads: set[tuple[str, bytes]] = set()
        self.states: list[tuple[str, bytes, bool]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"count-{uuid.uuid4().hex[:8]}")
        # QoS 0 towards the counter: the broker's per-client queue limit for QoS 1
        # (mosquitto: max_queued_messages 1000) must not drop what we count
        self.client.on_connect = lambda c, *a: c.subscribe(prefix + "lift/#", qos=0)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if msg.topic.endswith("/telemetry"):
                self.telemetry[msg.topic] += 1
                self.payloads.add((msg.topic, msg.payload))
            else:
                self.states.append((msg.topic, msg.payload, msg.retain))

    def total(self) -> int:
        with self.lock:
            return sum(self.telemetry.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def counter(mqtt_url: str, topic_prefix: str) -> Any:
    c = Counter(mqtt_url, topic_prefix)
    yield c
    c.close()


def _telemetry(msgs: list[tuple[str, bytes, bool]]) -> int:
    return sum(1 for t, _, _ in msgs if t.endswith("/telemetry"))


def test_realtime_delivers_every_sample_with_per_elevator_wills(
        mqtt_url: str, topic_prefix: str, counter: Counter) -> None:
    fleet = Fleet(FleetConfig(elevators=12, rate_hz=2, seed=4, duration_s=4,
                              faults="offline@1s:E0003[duration=100s]"))
    ticks = list(Fleet(FleetConfig(elevators=12, rate_hz=2, seed=4, duration_s=4,
                                   start_ts_ms=fleet.start_ms,
                                   faults="offline@1s:E0003[duration=100s]")).messages())
    expected = sum(_telemetry(m) for _, m in ticks)
    pub = Publisher(mqtt_url, fleet.ids, topic_prefix=topic_prefix)
    assert len(pub.connections) == 12  # one per elevator, each with its own will
    pub.start()
    stats = run_realtime(fleet, pub, progress=False)
    assert 3.5 <= stats.wall_s <= 8.0
    wait_until(lambda: counter.total() >= expected, 10, message=f"{expected} samples")
    will = f"{topic_prefix}lift/E0003/state"
    wait_until(lambda: any(t == will and b'"offline"' in p for t, p, _ in counter.states), 10,
               message="the broker publishing E0003's last will")
    pub.close(offline=True)
    wait_until(lambda: sum(b'"offline"' in p for _, p, _ in counter.states) >= 12, 10,
               message="offline states on exit")
    assert counter.total() == expected
    assert len(counter.telemetry) == 12


def test_fast_mode_to_broker_on_shared_connections(
        mqtt_url: str, topic_prefix: str, counter: Counter) -> None:
    fleet = Fleet(FleetConfig(elevators=300, seed=4, duration_s=20,
                              faults="duplicate=30/h"))
    pub = Publisher(mqtt_url, fleet.ids, topic_prefix=topic_prefix, shared=2)
    assert len(pub.connections) == 2
    pub.start()
    stats = run_fast(fleet, publisher=pub, progress=False)
    pub.close(offline=False)
    duplicates = sum(1 for r in fleet.ground_truth if r["kind"] == "duplicate")
    expected = 300 * 20 + duplicates
    # every telemetry message the fleet produced arrived (dropped samples are never sent)
    wait_until(lambda: counter.total() >= stats.messages - 300, 15,
               message=f"{stats.messages - 300} telemetry messages")
    assert counter.total() == stats.messages - 300  # less the 300 online states
    assert expected - 20 <= counter.total() <= expected
    assert duplicates > 0 and len(counter.payloads) == counter.total() - duplicates
