"""Publishing alert objects on lift/{elevator_id}/alerts and case objects on
lift/{elevator_id}/cases, or site/{site_id}/cases for a whole-site case (QoS 1, not
retained; the case topics are an extension of CONTRACT section 1)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import structlog

from core.settings import Settings
from messaging.connection import configure

log = structlog.get_logger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


def alert_topic(settings: Settings, elevator_id: str) -> str:
    """The topic of an elevator's alert changes, under the configured prefix."""
    return settings.topic(f"lift/{elevator_id}/alerts")


def case_topic(settings: Settings, case: dict[str, Any]) -> str:
    """The topic of a case's changes: its elevator's, or its site's for a whole-site case."""
    if case.get("elevator_id"):
        return settings.topic(f"lift/{case['elevator_id']}/cases")
    return settings.topic(f"site/{case['site_id']}/cases")


class AlertPublisher:
    """A paho client that publishes alert objects; paho queues them while disconnected."""

    def __init__(self, settings: Settings, *, client_id: str | None = None) -> None:
        self.settings = settings
        self.broker = settings.broker
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._infos: list[mqtt.MQTTMessageInfo] = []
        protocol = mqtt.MQTTv5 if settings.mqtt_protocol == "5" else mqtt.MQTTv311
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
            client_id=client_id or f"{settings.mqtt_client_id}-alerts-{uuid.uuid4().hex[:6]}",
            protocol=protocol)
        configure(self._client, self.broker)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(100)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        """Connect in the background (paho reconnects with backoff by itself)."""
        self._client.connect_async(self.broker.host, self.broker.port,
                                   self.settings.mqtt_keepalive_s)
        self._client.loop_start()

    def stop(self, timeout: float = 2.0) -> None:
        """Disconnect after a short wait for messages still in flight."""
        deadline = time.monotonic() + timeout
        with self._lock:
            infos, self._infos = self._infos, []
        for info in infos:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.connected.is_set():
                break
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(remaining)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def publish(self, alert: dict[str, Any]) -> None:
        """Queue the alert object for its elevator's alerts topic."""
        self._send(alert_topic(self.settings, alert["elevator_id"]), alert,
                   alert_id=alert.get("id"))

    def publish_case(self, case: dict[str, Any]) -> None:
        """Queue the case object for its elevator's (or site's) cases topic."""
        self._send(case_topic(self.settings, case), case, case_id=case.get("id"))

    def _send(self, topic: str, obj: dict[str, Any], **ident: Any) -> None:
        payload = json.dumps(obj, default=str, separators=(",", ":"), ensure_ascii=False)
        info = self._client.publish(topic, payload, qos=1, retain=False)
        with self._lock:
            self._infos = [i for i in self._infos if not i.is_published()]
            self._infos.append(info)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("not published", topic=topic, rc=info.rc, **ident)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("MQTT publisher refused", reason=str(rc))
            return
        self.connected.set()

    def _on_disconnect(self, *_a: Any) -> None:
        self.connected.clear()
