"""Receiving telemetry: a paho client that decodes, hands off, and acknowledges on request.

Shared by the ingester and the standalone rules engine. The paho callback only decodes a
message into an immutable :class:`Inbound` and hands it over; nothing touches the
database on paho's thread. Messages are acknowledged with paho's manual acknowledgement
only when the consumer says they are safe (the ingester: committed), so a crash at any
moment leads to redelivery rather than loss.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.accept import Decoded, WireDecoder
from core.broker import BrokerAddress
from core.settings import Settings
from messaging.client import AckBatchingClient, make_client
from messaging.connection import configure

log = structlog.get_logger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
PROBE_TIMEOUT_S = 5.0
class Inbound(Decoded, frozen=True, kw_only=True, gc=False):
    """One received message, decoded (or refused), waiting for its commit and its ack."""

    mid: int
    qos: int
    generation: int


def negotiate_protocol(broker: BrokerAddress, wanted: str) -> MQTTProtocolVersion:
    """MQTT 5 if the broker accepts it (or it was asked for), else MQTT 3.1.1."""
    if wanted == "5":
        return MQTTProtocolVersion.MQTTv5
    if wanted == "3.1.1":
        return MQTTProtocolVersion.MQTTv311
    result: dict[str, bool] = {}
    done = threading.Event()
    probe = configure(mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"whistle-probe-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5), broker)

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        result["ok"] = not rc.is_failure
        done.set()

    def on_disconnect(*_a: Any) -> None:
        result.setdefault("ok", False)
        done.set()

    probe.on_connect = on_connect
    probe.on_disconnect = on_disconnect
    try:
        probe.connect(broker.host, broker.port, keepalive=10, clean_start=True)
        probe.loop_start()
        done.wait(PROBE_TIMEOUT_S)
    except OSError:
        return MQTTProtocolVersion.MQTTv5  # the broker is down: try 5 when it comes back
    finally:
        probe.disconnect()
        probe.loop_stop()
    if result.get("ok", True):
        return MQTTProtocolVersion.MQTTv5
    log.warning("broker refused MQTT 5; falling back to MQTT 3.1.1", broker=broker.display())
    return MQTTProtocolVersion.MQTTv311


class Subscriber:
    """Subscribes lift/+/telemetry and lift/+/state at QoS 1 on a persistent session."""

    def __init__(self, settings: Settings, handoff: Callable[[Inbound], None], *,
                 client_id: str | None = None, share_group: str | None = None,
                 decoder: WireDecoder | None = None) -> None:
        self.settings = settings
        self.handoff = handoff
        self.client_id = client_id or settings.mqtt_client_id
        self.share_group = share_group if share_group is not None else settings.mqtt_share_group
        self.decoder = decoder or WireDecoder(
            prefix=settings.mqtt_topic_prefix, max_bytes=settings.ingest_max_message_bytes,
            max_samples=settings.ingest_max_samples,
            future_tolerance_s=settings.ingest_future_tolerance_s)
        self.broker = settings.broker
        self.host, self.port = self.broker.host, self.broker.port
        self.protocol = negotiate_protocol(self.broker, settings.mqtt_protocol)
        self.generation = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = self._make_client()

    @property
    def protocol_name(self) -> str:
        """'5' or '3.1.1'."""
        return "5" if self.protocol == MQTTProtocolVersion.MQTTv5 else "3.1.1"

    def topics(self) -> list[str]:
        """The subscription filters, shared between ingesters where MQTT 5 allows it."""
        filters = [self.settings.topic("lift/+/telemetry"), self.settings.topic("lift/+/state")]
        group = self.share_group
        if group and self.protocol == MQTTProtocolVersion.MQTTv5:
            filters = [f"$share/{group}/{f}" for f in filters]
        return filters

    def _make_client(self) -> AckBatchingClient:
        v5 = self.protocol == MQTTProtocolVersion.MQTTv5
        client = make_client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id,
            protocol=self.protocol, manual_ack=True,
            clean_session=None if v5 else False)
        configure(client, self.broker)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect in the background; paho reconnects with backoff by itself."""
        kwargs: dict[str, Any] = {}
        if self.protocol == MQTTProtocolVersion.MQTTv5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
            props.ReceiveMaximum = self.settings.mqtt_receive_maximum
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(self.host, self.port, self.settings.mqtt_keepalive_s,
                                   **kwargs)
        self._client.loop_start()
        log.info("MQTT client started", broker=self.broker.display(),
                 protocol=self.protocol_name, client_id=self.client_id,
                 topics=self.topics())

    def stop(self) -> None:
        """Disconnect (the session, and what is not acknowledged, stays at the broker)."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def ack(self, items: list[Inbound]) -> int:
        """Acknowledge committed messages of the current connection; return how many."""
        generation = self.generation
        mids = [item.mid for item in items if item.qos == 1 and item.generation == generation]
        self._client.ack_many(mids)
        return len(mids)

    # --- paho callbacks (paho's thread) ---------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("MQTT connection refused", reason=str(rc))
            return
        self.generation += 1
        if self.protocol == MQTTProtocolVersion.MQTTv5:
            client.subscribe([(t, SubscribeOptions(qos=1)) for t in self.topics()])
        else:
            client.subscribe([(t, 1) for t in self.topics()])
        self.connected.set()
        log.info("MQTT connected", session_present=bool(getattr(flags, "session_present", 0)),
                 generation=self.generation)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        failed = [str(c) for c in codes if c.is_failure]
        if failed:
            log.error("MQTT subscription refused", codes=failed, topics=self.topics())
        else:
            self.subscribed.set()
            log.info("MQTT subscribed", topics=self.topics())

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        # Anything received on the old connection will be redelivered; its acks would hit
        # packet ids the broker may already have reused, so they are dropped (see ack()).
        self.generation += 1
        log.warning("MQTT disconnected; paho reconnects with backoff", reason=str(rc))

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # the hot path of every message: decode() inlined (a call less per message)
        self.handoff(self.decoder.decode(  # type: ignore[arg-type]
            msg.topic, bytes(msg.payload), time.time_ns() // 1000, Inbound, mid=msg.mid,
            qos=msg.qos, generation=self.generation))

    def decode(self, mid: int, qos: int, topic: str, payload: bytes) -> Inbound:
        """Decode one message into an Inbound; never raises."""
        inbound = self.decoder.decode(topic, payload, int(time.time() * 1_000_000),
                                      Inbound, mid=mid, qos=qos, generation=self.generation)
        assert isinstance(inbound, Inbound)
        return inbound
