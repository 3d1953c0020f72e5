"""What the broker says about itself (``$SYS/broker/version``), to tell what is safe."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.broker import BrokerAddress
from messaging.connection import configure

VERSION_TOPIC = "$SYS/broker/version"


def version(broker: BrokerAddress, timeout: float = 3.0) -> str | None:
    """The broker's version string (Mosquitto publishes it retained), or None if it does
    not say within the timeout or cannot be reached."""
    client = configure(mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"whistle-info-{uuid.uuid4().hex[:8]}"), broker)
    got: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            done.set()
        else:
            c.subscribe(VERSION_TOPIC)

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload.decode(errors="replace"))
        done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


def shared_subscription_note(version_text: str | None) -> tuple[bool, str]:
    """(safe, what to log) for shared subscriptions on this broker."""
    if version_text is None:
        return False, ("the broker does not say its version; shared subscriptions lose "
                       "the messages published between a broker restart and the ingesters' "
                       "resubscription on brokers that forget offline shared sessions "
                       "(Mosquitto 2.0); EMQX keeps them")
    if version_text.lower().startswith("mosquitto version 2.0"):
        return False, (f"{version_text}: it forgets the shared subscriptions of offline "
                       "sessions when it restarts, so messages published between a broker "
                       "restart and the ingesters' resubscription are lost; run one ingester "
                       "(plain persistent subscription, loses nothing) or a broker that keeps "
                       "shared sessions (EMQX) to scale out safely")
    return True, f"{version_text}: shared subscription"
