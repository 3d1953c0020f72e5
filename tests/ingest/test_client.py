"""The subscriber's paho client with buffered reads behaves as stock paho does.

Against a real Mosquitto: a BufferedClient and a stock paho client subscribe to the same
topic and must receive exactly the same messages, in the same order, for packets split
across reads at every position (tiny read chunks), packets of 256 KiB, after keepalive
pings on an idle connection, across a broker restart, and over TLS. The buffered client
must also do what it is for: far fewer recv() calls than messages.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
import pytest
import structlog
import trustme
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.broker import BrokerAddress, parse_broker_url
from messaging import client as buffered
from messaging.client import AckBatchingClient, BufferedClient, make_client
from messaging.connection import configure
from tests.helpers import Publisher, wait_until
from whistle.embedded.broker import EmbeddedBroker, find_mosquitto
from whistle.embedded.ports import free_port, wait_listening

Got = tuple[str, bytes, int]


class Receiver:
    """A subscribed client (buffered or stock) recording every message it gets."""

    def __init__(self, cls: type[mqtt.Client], url: str, topic: str, *,
                 keepalive: int = 60, v5: bool = True, ca: Path | None = None,
                 log: bool = False, manual_ack: bool = False) -> None:
        self.got: list[Got] = []
        self.meta: list[tuple[bool, bool, str | None]] = []  # retain, dup, properties
        self.kinds: set[str] = set()
        self.logs: list[str] = []
        self.connects = 0
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        address = parse_broker_url(url)
        if ca is not None:
            address = dataclasses.replace(address, ca_file=ca)
        self.client = cls(callback_api_version=CallbackAPIVersion.VERSION2,
                          client_id=f"rx-{uuid.uuid4().hex[:8]}",
                          protocol=MQTTProtocolVersion.MQTTv5 if v5 else
                          MQTTProtocolVersion.MQTTv311, manual_ack=manual_ack)
        configure(self.client, address)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_message = self._on_message
        if log:  # paho's logging also turns the lean PUBLISH path off (paho's own logs)
            self.client.on_log = lambda _c, _u, _l, text: self.logs.append(text)
        self.topic = topic

        def on_connect(c: mqtt.Client, *_a: Any) -> None:
            self.connects += 1
            c.subscribe(topic, 1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.connect(address.host, address.port, keepalive)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscribed"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.got.append((msg.topic, bytes(msg.payload), msg.qos))
            props = msg.properties
            self.meta.append((msg.retain, msg.dup, None if props is None else str(props)))
            self.kinds.add(type(msg).__name__)

    def wait_for(self, n: int, timeout: float = 30) -> list[Got]:
        wait_until(lambda: len(self.got) >= n, timeout, message=f"{n} messages")
        return list(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def recv_calls(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """recv() calls on each client's socket (paho's own _sock_recv), by id of the client."""
    calls: dict[int, int] = {}
    stock = mqtt.Client._sock_recv

    def counting(self: mqtt.Client, bufsize: int) -> bytes:
        calls[id(self)] = calls.get(id(self), 0) + 1
        return stock(self, bufsize)

    monkeypatch.setattr(mqtt.Client, "_sock_recv", counting)
    return calls


@pytest.fixture()
def pair(mqtt_url: str, topic_prefix: str) -> Iterator[Callable[..., tuple[Receiver, Receiver]]]:
    """Start a buffered and a stock receiver on one topic; both are closed afterwards."""
    made: list[Receiver] = []

    def start(url: str = mqtt_url, **kw: Any) -> tuple[Receiver, Receiver]:
        topic = f"{topic_prefix}/client/{uuid.uuid4().hex[:6]}/#"
        made.extend([Receiver(BufferedClient, url, topic, **kw),
                     Receiver(mqtt.Client, url, topic, **kw)])
        return made[-2], made[-1]

    yield start
    for r in made:
        r.close()


def messages(prefix: str, sizes: list[int]) -> list[Got]:
    """Messages of the given payload sizes (distinct bytes each) on distinct topics."""
    return [(f"{prefix}/m{i % 7}", bytes((i + j) % 251 for j in range(size)), 1)
            for i, size in enumerate(sizes)]


def publish(url: str, msgs: list[Got], broker: BrokerAddress | None = None) -> None:
    pub = Publisher(url, window=50, broker=broker)
    try:
        for topic, payload, qos in msgs:
            pub.publish(topic, payload, qos=qos)
        pub.wait_acked(len(msgs))
    finally:
        pub.close()


# Remaining lengths of 1, 2 and 3 bytes, an empty payload, and sizes around chunk edges.
SIZES = [0, 1, 2, 100, 127, 128, 129, 200, 16_383, 16_384, 20_000, 3, 65_530, 65_536, 70_000]


@pytest.mark.parametrize("chunk", [1, 2, 5, 64, 1000, buffered.READ_CHUNK])
def test_packets_split_across_reads_arrive_as_with_stock_paho(
        chunk: int, pair: Callable[..., tuple[Receiver, Receiver]], mqtt_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffered, "READ_CHUNK", chunk)
    fast, stock = pair()
    msgs = messages(fast.topic.removesuffix("/#"), SIZES * 3)
    publish(mqtt_url, msgs)
    assert fast.wait_for(len(msgs)) == msgs
    assert stock.wait_for(len(msgs)) == msgs


def test_a_burst_of_small_messages_takes_far_fewer_reads_than_stock_paho(
        pair: Callable[..., tuple[Receiver, Receiver]], mqtt_url: str,
        recv_calls: dict[int, int]) -> None:
    fast, stock = pair()
    # (under the 1,000 messages a stock Mosquitto queues for a client that lags)
    msgs = messages(fast.topic.removesuffix("/#"), [236] * 900)
    publish(mqtt_url, msgs)
    assert fast.wait_for(len(msgs)) == stock.wait_for(len(msgs)) == msgs
    assert recv_calls[id(stock.client)] >= 3 * len(msgs)  # stock: header, length, body
    assert recv_calls[id(fast.client)] < recv_calls[id(stock.client)] / 3
    assert fast.kinds == {"_Message"}, "the lean PUBLISH path was taken"
    assert fast.meta == stock.meta and fast.meta[0] == (False, False, "[]")


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
def test_retained_qos0_and_mqtt5_properties_arrive_as_with_stock_paho(
        v5: bool, pair: Callable[..., tuple[Receiver, Receiver]], mqtt_url: str) -> None:
    fast, stock = pair(v5=v5)
    prefix = fast.topic.removesuffix("/#")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    address = parse_broker_url(mqtt_url)
    pub.connect(address.host, address.port)
    pub.loop_start()
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("site", "S1")]
        props.MessageExpiryInterval = 3600
        props.ContentType = "application/json"
        sent = [pub.publish(f"{prefix}/p", b"with properties", qos=1, properties=props),
                pub.publish(f"{prefix}/q0", b"qos 0", qos=0),
                pub.publish(f"{prefix}/r", b"retained", qos=1, retain=True),
                pub.publish(f"{prefix}/empty", b"", qos=1)]
        for info in sent:
            info.wait_for_publish(10)
        got = fast.wait_for(4)
        assert got == stock.wait_for(4)
        assert sorted(got) == sorted([(f"{prefix}/p", b"with properties", 1),
                                      (f"{prefix}/q0", b"qos 0", 0),
                                      (f"{prefix}/r", b"retained", 1),
                                      (f"{prefix}/empty", b"", 1)])
        assert fast.meta == stock.meta
        with_props = fast.meta[[t for t, _p, _q in got].index(f"{prefix}/p")][2]
        if v5:  # paho's own code decoded it, properties and all
            assert with_props is not None and "site" in with_props
            assert fast.kinds == {"_Message", "MQTTMessage"}
        else:
            assert with_props is None and fast.kinds == {"_Message"}
    finally:
        pub.publish(f"{prefix}/r", b"", qos=1, retain=True).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()


def test_topic_callbacks_and_a_failing_on_message_behave_as_in_stock_paho(
        pair: Callable[..., tuple[Receiver, Receiver]], mqtt_url: str) -> None:
    fast, stock = pair()
    prefix = fast.topic.removesuffix("/#")
    routed: dict[str, list[bytes]] = {"fast": [], "stock": []}
    for name, r in (("fast", fast), ("stock", stock)):
        r.client.message_callback_add(f"{prefix}/special/#", lambda _c, _u, m, name=name:
                                      routed[name].append(bytes(m.payload)))
    msgs = [(f"{prefix}/plain", b"1", 1), (f"{prefix}/special/x", b"2", 1),
            (f"{prefix}/plain", b"3", 1)]
    publish(mqtt_url, msgs)
    wait_until(lambda: len(fast.got) == len(stock.got) == 2, 10, message="plain messages")
    assert fast.got == stock.got == [msgs[0], msgs[2]]
    assert routed == {"fast": [b"2"], "stock": [b"2"]}

    fails = {"fast": 0}

    def failing(_c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
        fails["fast"] += 1
        raise ValueError("a bug in the callback")

    solo = Receiver(BufferedClient, mqtt_url, f"{prefix}/bug/#")
    try:
        solo.client.suppress_exceptions = True  # paho: log and go on with the next message
        solo.client.on_message = failing
        publish(mqtt_url, [(f"{prefix}/bug/a", b"x", 1), (f"{prefix}/bug/b", b"y", 1)])
        wait_until(lambda: fails["fast"] == 2, 10, message="both messages reached on_message")
        assert solo.connects == 1, "the exception did not cost the connection"
    finally:
        solo.close()


def test_with_manual_acks_as_the_ingester_a_burst_is_delivered_to_its_last_message(
        mqtt_url: str, topic_prefix: str) -> None:
    # Nothing is sent back (no PUBACK until a commit), so only the drain of the buffer in
    # loop_read delivers the packets that arrived in the last chunk: select() cannot see them.
    topic = f"{topic_prefix}/client/{uuid.uuid4().hex[:6]}/#"
    rx = Receiver(BufferedClient, mqtt_url, topic, manual_ack=True)
    try:
        # QoS 0: a broker stops at its in-flight window of unacknowledged QoS 1 messages
        msgs = [(t, p, 0) for t, p, _q in messages(topic.removesuffix("/#"), [200] * 3000)]
        address = parse_broker_url(mqtt_url)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311)
        pub.connect(address.host, address.port)
        pub.loop_start()
        try:
            infos = [pub.publish(t, payload, qos=0) for t, payload, _q in msgs]
            infos[-1].wait_for_publish(10)
        finally:
            pub.disconnect()
            pub.loop_stop()
        assert rx.wait_for(len(msgs)) == msgs
    finally:
        rx.close()


def test_packets_of_256_kib_between_small_ones(
        pair: Callable[..., tuple[Receiver, Receiver]], mqtt_url: str) -> None:
    fast, stock = pair()
    msgs = messages(fast.topic.removesuffix("/#"), [10, 256 * 1024, 10, 256 * 1024 - 1,
                                                    256 * 1024 + 1, 10] * 2)
    publish(mqtt_url, msgs)
    assert fast.wait_for(len(msgs)) == msgs
    assert stock.wait_for(len(msgs)) == msgs


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
def test_keepalive_pings_are_answered_and_the_connection_stays(
        v5: bool, pair: Callable[..., tuple[Receiver, Receiver]], mqtt_url: str) -> None:
    fast, stock = pair(keepalive=1, v5=v5)
    witness = Receiver(BufferedClient, mqtt_url, fast.topic, keepalive=1, v5=v5, log=True)
    try:
        wait_until(lambda: sum("Received PINGRESP" in t for t in witness.logs) >= 3, 15,
                   message="three PINGRESPs read through the buffer")
        msgs = messages(fast.topic.removesuffix("/#"), [50, 5000])
        publish(mqtt_url, msgs)
        assert fast.wait_for(2) == stock.wait_for(2) == witness.wait_for(2) == msgs
        # paho drops a connection whose PINGRESP is late by a keepalive: none was
        assert fast.connects == stock.connects == witness.connects == 1
        assert fast.kinds == {"_Message"} and stock.kinds == {"MQTTMessage"}
        assert fast.meta == stock.meta
    finally:
        witness.close()


def test_a_broker_restart_mid_stream_reconnects_with_nothing_of_the_old_connection(
        tmp_path: Path, pair: Callable[..., tuple[Receiver, Receiver]]) -> None:
    broker = EmbeddedBroker(tmp_path)
    url = broker.start()
    try:
        fast, stock = pair(url)
        prefix = fast.topic.removesuffix("/#")
        pub = Publisher(url, window=50)
        before = messages(prefix, [300] * 3000)
        for topic, payload, qos in before:
            pub.publish(topic, payload, qos=qos)  # the restart lands amid reads
        pub.close()
        broker.requested_port = broker.port
        broker.stop()
        broker.start()
        wait_until(lambda: fast.connects == 2 and fast.subscribed.is_set(), 20,
                   message="the buffered client reconnected")
        wait_until(lambda: stock.connects == 2, 20, message="the stock client reconnected")
        after = messages(prefix + "/after", SIZES)
        publish(url, after)
        wait_until(lambda: fast.got[-len(after):] == after, 20,
                   message="the messages after the restart, intact")
        wait_until(lambda: stock.got[-len(after):] == after, 20, message="stock paho too")
        sent = set(before) | set(after)
        assert all(m in sent for m in fast.got), "no byte of the old connection leaked"
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def tls_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A Mosquitto with a TLS listener (private CA, anonymous access)."""
    mosquitto = find_mosquitto()
    if mosquitto is None:
        pytest.skip("needs a mosquitto binary")
    d = tmp_path_factory.mktemp("tls-broker")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server.private_key_pem.write_to_path(str(d / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    port = free_port()
    user = pwd.getpwuid(os.geteuid()).pw_name
    (d / "mosquitto.conf").write_text(
        f"user {user}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n"
        f"log_dest file {d}/mosquitto.log\n")
    proc = subprocess.Popen([mosquitto, "-c", str(d / "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_listening(port, 20)
        yield f"mqtts://127.0.0.1:{port}", d / "ca.pem"
    finally:
        proc.terminate()
        proc.wait(10)


def test_over_tls_small_bursts_and_large_packets_arrive_as_with_stock_paho(
        tls_url: tuple[str, Path], pair: Callable[..., tuple[Receiver, Receiver]],
        recv_calls: dict[int, int]) -> None:
    url, ca = tls_url
    fast, stock = pair(url, ca=ca)
    msgs = messages(fast.topic.removesuffix("/#"), [236] * 1000 + SIZES + [256 * 1024])
    publish(url, msgs, broker=dataclasses.replace(parse_broker_url(url), ca_file=ca))
    assert fast.wait_for(len(msgs)) == msgs
    assert stock.wait_for(len(msgs)) == msgs
    assert recv_calls[id(fast.client)] < recv_calls[id(stock.client)] / 3


def test_an_untested_paho_release_falls_back_to_paho_reads_with_a_log_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert buffered.buffered_reads_tested(paho.mqtt.__version__), \
        "the installed paho is one the buffered reads are tested with (pyproject pin)"
    assert not buffered.buffered_reads_tested("2.3.0")
    assert not buffered.buffered_reads_tested("3.0.0")
    kw: dict[str, Any] = {"callback_api_version": CallbackAPIVersion.VERSION2,
                          "client_id": "guard"}
    assert type(make_client(**kw)) is BufferedClient
    monkeypatch.setattr(paho.mqtt, "__version__", "9.0.0")
    with structlog.testing.capture_logs() as logged:
        client = make_client(**kw)
    assert type(client) is AckBatchingClient and not client.buffered_reads
    assert any("not tested with buffered reads" in e["event"] and e["paho"] == "9.0.0"
               for e in logged)
