"""Helpers shared by the tests: waiting on conditions, unique names, MQTT publishing."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt

from core.broker import BrokerAddress, parse_broker_url
from messaging.connection import configure

T = TypeVar("T")


def free_name(prefix: str) -> str:
    """A database-safe unique name."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll predicate until it returns something truthy; fail the test after timeout."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message} "
                                 f"(last value {last!r})")
        time.sleep(interval)
        last = predicate()
    return last


class Publisher:
    """A paho QoS 1 publisher with a bound on unacknowledged messages."""

    def __init__(self, url: str, *, window: int = 100, client_id: str | None = None,
                 protocol: int = mqtt.MQTTv311, broker: BrokerAddress | None = None) -> None:
        address = broker or parse_broker_url(url)
        self.slots = threading.BoundedSemaphore(window)
        self.acked = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}",
                                  protocol=protocol)
        configure(self.client, address)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_publish = self._on_publish
        self.client.connect(address.host, address.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise AssertionError(f"cannot connect to {url}")

    def _on_publish(self, *_a: Any) -> None:
        with self._lock:
            self.acked += 1
        self.slots.release()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any] | list[Any],
                *, qos: int = 1, retain: bool = False) -> None:
        """Publish, waiting for a window slot first (QoS 1)."""
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        if qos:
            self.slots.acquire()
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"publish failed rc={info.rc}")
        if not qos:
            info.wait_for_publish(5)

    def wait_acked(self, n: int, timeout: float = 30.0) -> None:
        """Wait until n messages have been acknowledged by the broker."""
        wait_until(lambda: self.acked >= n, timeout, message=f"{n} PUBACKs")

    def close(self) -> None:
        """Disconnect cleanly."""
        self.client.disconnect()
        self.client.loop_stop()


class ApiServer:
    """The real app, served as `whistle api` serves it (whistle.assembly), on a free port;
    `with ApiServer(settings) as url:`."""

    def __init__(self, settings: Any) -> None:
        from whistle.assembly import Whistle

        self.whistle = Whistle(settings.model_copy(update={"api_port": 0}), ingest=False,
                               rules=False)
        self.url = self.whistle.url

    def __enter__(self) -> str:
        self.whistle.start()
        return self.url

    def __exit__(self, *_exc: Any) -> None:
        self.whistle.stop()


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return int(time.time() * 1000)


@contextmanager
def service_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder directly under /tmp that an unprivileged server user can enter.

    As root the embedded PostgreSQL runs as another user, which cannot enter pytest's
    private temp folders (mode 700); this one is 755 under the world-writable /tmp.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
