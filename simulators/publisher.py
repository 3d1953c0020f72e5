"""Real-time MQTT publishing with paho-mqtt 2.x: QoS 1, bounded in-flight, per-device wills.

Every connection is driven by hand from one thread (no paho network threads): publishing
writes to the socket at once, acknowledgements are read when the caller polls. Two costs
dominate at 10,000 messages a second and are cut here:

* paho decodes every PUBACK into reason-code and property objects and, with an in-flight
  limit set, rescans its whole in-flight table on each; :class:`LeanClient` matches
  PUBACKs in a few lines instead, and the window of unacknowledged messages is bounded by
  this module, not by paho (so paho's scan never runs);
* one system call and one TCP segment per message: :class:`LeanClient` frames a burst
  of PUBLISH packets itself and hands them to paho's writer as one buffer.

Small fleets get one connection per elevator, each with its own last will (``offline`` on
``lift/{id}/state``, retained). Large fleets share a few connections, and an elevator
whose device must drop off (an ``offline`` fault) gets a dedicated connection with its own
will, which is then closed uncleanly so the broker itself publishes the will.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from simulators import wire

WINDOW = 1000  # unacknowledged QoS 1 messages per connection (paho fails past 65,535)
DEDICATED_MAX = 200  # fleets up to this size get one connection per elevator
SHARED_CONNECTIONS = 2
CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 30

Message = tuple[str, bytes, bool]


class PublishError(RuntimeError):
    """The broker cannot be reached or stopped acknowledging."""


class LeanClient(mqtt.Client):
    """A paho client with a lean QoS 1 path for MQTT 3.1.1 (paho's own path is kept for
    everything else: connecting, wills, keepalive, disconnecting).

    :meth:`publish_lean` frames PUBLISH packets itself and hands a whole burst to paho's
    writer as one buffer (one syscall instead of one per message, and no per-message
    ``MQTTMessageInfo`` with its condition variable); PUBACKs of those messages are
    matched here instead of being decoded into paho's reason-code and property objects.
    """

    acked = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lean_inflight: set[int] = set()
        self._burst: list[bytes] = []
        self._rbuf = bytearray()

    def publish_lean(self, topic: bytes, payload: bytes, retain: bool) -> None:
        """Frame a QoS 1 PUBLISH into the current burst (sent by :meth:`send_burst`)."""
        mid = self._mid_generate()
        remaining = 4 + len(topic) + len(payload)
        header = bytearray((0x32 | (1 if retain else 0),))
        while True:
            byte, remaining = remaining % 128, remaining // 128
            header.append(byte | 0x80 if remaining else byte)
            if not remaining:
                break
        header += len(topic).to_bytes(2, "big")
        self._burst.append(bytes(header) + topic + mid.to_bytes(2, "big") + payload)
        self.lean_inflight.add(mid)

    def send_burst(self) -> MQTTErrorCode:
        """Queue the framed messages as one write; paho's writer handles partial writes."""
        if not self._burst:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        data = b"".join(self._burst)
        self._burst.clear()
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        return self._packet_queue(0x30 | 0x02, data, 0, 1)

    def _sock_recv(self, bufsize: int) -> bytes:
        # paho reads a packet a few bytes at a time (three reads per PUBACK); read the
        # socket in large chunks and serve paho from a buffer
        buf = self._rbuf
        if not buf:
            data = super()._sock_recv(65536)
            if not data:
                return data
            buf += data
        out = bytes(buf[:bufsize])
        del buf[:bufsize]
        return out

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read every complete packet available (paho's own bound ignores lean messages)."""
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        if cmd != "PUBACK" or self._protocol == mqtt.MQTTv5:
            return super()._handle_pubackcomp(cmd)
        packet = self._in_packet["packet"]
        mid = (packet[0] << 8) | packet[1]
        if mid in self.lean_inflight:
            self.lean_inflight.discard(mid)
            self.acked += 1
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._out_message_mutex:
            if self._out_messages.pop(mid, None) is not None:
                self._inflight_messages -= 1
                self.acked += 1
        return MQTTErrorCode.MQTT_ERR_SUCCESS


@dataclass
class Connection:
    """One MQTT connection, optionally carrying one elevator's last will."""

    host: str
    port: int
    client_id: str
    will: tuple[str, bytes] | None = None
    window: int = WINDOW
    login: tuple[str, str | None] | None = None  # (username, password) from the URL
    client: LeanClient = field(init=False)
    sent: int = 0
    connected: bool = False
    dropped: bool = False

    def __post_init__(self) -> None:
        self._new_client()

    def _new_client(self) -> None:
        c = LeanClient(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                       protocol=mqtt.MQTTv311, clean_session=True)
        if self.login is not None:
            c.username_pw_set(*self.login)
        c.max_inflight_messages_set(0)  # we bound the window ourselves
        c.max_queued_messages_set(0)
        if self.will is not None:
            c.will_set(self.will[0], self.will[1], qos=1, retain=True)
        c.on_connect = self._on_connect
        self.client = c
        self.sent = 0

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        self.connected = not reason.is_failure

    def start(self) -> None:
        """Open the TCP connection and send CONNECT (wait with :meth:`wait_connected`)."""
        self.connected = False
        self.dropped = False
        self.client.connect(self.host, self.port, keepalive=KEEPALIVE_S)

    def fileno(self) -> int:
        """The socket's file descriptor (for select)."""
        sock = self.client.socket()
        return sock.fileno() if sock is not None else -1

    @property
    def outstanding(self) -> int:
        """Messages sent and not yet acknowledged."""
        return self.sent - self.client.acked

    def read(self) -> None:
        """Process whatever the broker sent (acks, CONNACK)."""
        rc = self.client.loop_read()
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            raise PublishError(f"connection {self.client_id} lost ({mqtt.error_string(rc)})")

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Queue one QoS 1 message in the current burst (the caller keeps the window)."""
        if not self.connected:
            raise PublishError(f"connection {self.client_id} is not connected")
        self.client.publish_lean(topic.encode(), payload, retain)
        self.sent += 1

    def flush_burst(self) -> None:
        """Write the queued burst to the socket."""
        rc = self.client.send_burst()
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            raise PublishError(f"connection {self.client_id} lost ({mqtt.error_string(rc)})")

    def drop(self) -> None:
        """Close the socket without DISCONNECT: the broker then publishes the will."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self.client._sock_close()
        self.connected = False
        self.dropped = True

    def close(self) -> None:
        """Clean disconnect (the will is discarded)."""
        with contextlib.suppress(Exception):
            self.flush_burst()
            self.client.disconnect()
            self.client.loop_write()
        with contextlib.suppress(Exception):
            self.client._sock_close()
        self.connected = False


def _broker(url: str) -> tuple[str, int, tuple[str, str | None] | None]:
    """(host, port, login) of mqtt://[user:password@]host:port (TLS is for the service's
    own clients; the simulator speaks plaintext to a broker it can reach directly)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else url
        raise ValueError(f"broker URL must look like mqtt://[user:password@]host:port, "
                         f"not {shown!r}")
    login = None
    if parts.username:
        login = (unquote(parts.username),
                 unquote(parts.password) if parts.password is not None else None)
    return parts.hostname, parts.port or 1883, login


class Publisher:
    """Publishes fleet messages to a broker under a topic prefix, one thread, QoS 1."""

    def __init__(self, url: str, elevator_ids: Iterable[str], *, topic_prefix: str = "",
                 dedicated: bool | None = None, shared: int = SHARED_CONNECTIONS,
                 window: int = WINDOW, client_prefix: str | None = None,
                 credentials: dict[str, str] | None = None) -> None:
        """credentials: elevator id -> its device password (the broker checks who speaks
        for which elevator): every elevator then has its own connection and login."""
        self.host, self.port, self.login = _broker(url)
        self.prefix = topic_prefix
        self.ids = list(elevator_ids)
        self.window = window
        self.tag = client_prefix or f"whistle-sim-{uuid.uuid4().hex[:6]}"
        self.credentials = credentials
        if credentials is not None:
            if missing := [e for e in self.ids if e not in credentials]:
                raise ValueError(f"no credentials for {len(missing)} elevators, e.g. "
                                 f"{missing[0]}")
            dedicated = True
        self.per_elevator = len(self.ids) <= DEDICATED_MAX if dedicated is None else dedicated
        self.shared = [] if self.per_elevator else [
            Connection(self.host, self.port, f"{self.tag}-shared-{k}", window=window,
                       login=self.login)
            for k in range(max(1, shared))]
        self.own: dict[str, Connection] = {}
        if self.per_elevator:
            for eid in self.ids:
                self.own[eid] = self._dedicated(eid)
        self._index = {eid: k for k, eid in enumerate(self.ids)}
        self.published = 0

    def _dedicated(self, eid: str) -> Connection:
        will = (self.prefix + wire.state_topic(eid),
                wire.state_payload("offline", int(time.time() * 1000)))
        login = (eid, self.credentials[eid]) if self.credentials is not None else self.login
        return Connection(self.host, self.port, f"{self.tag}-{eid}", will=will,
                          window=min(self.window, 100), login=login)

    @property
    def connections(self) -> list[Connection]:
        """Every connection, shared first."""
        return self.shared + list(self.own.values())

    def start(self) -> None:
        """Connect everything and wait for the broker to accept."""
        for conn in self.connections:
            try:
                conn.start()
            except OSError as exc:
                raise PublishError(f"cannot connect to mqtt://{self.host}:{self.port}: {exc}"
                                   ) from exc
        self._wait_connected(self.connections)

    def _wait_connected(self, conns: list[Connection]) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not all(c.connected for c in conns):
            if time.monotonic() > deadline:
                raise PublishError(f"mqtt://{self.host}:{self.port} did not accept the "
                                   "connection in time")
            self.poll(0.05, conns=[c for c in conns if not c.connected])

    def _route(self, topic: str) -> Connection:
        eid = topic.split("/", 2)[1] if topic.startswith("lift/") else ""
        conn = self.own.get(eid)
        if conn is not None:
            return conn
        k = self._index.get(eid, 0)
        return self.shared[k % len(self.shared)] if self.shared else next(iter(self.own.values()))

    def send(self, msgs: list[Message], *, raw: bool = False) -> None:
        """Publish messages in order; state messages drive the per-elevator connections.

        With raw, topics are published as given (a recording) and state messages are
        plain retained messages.
        """
        used: dict[int, Connection] = {}
        try:
            for topic, payload, retain in msgs:
                if raw:
                    conn = self.shared[0] if self.shared else next(iter(self.own.values()))
                elif topic.endswith("/state"):
                    self._state(topic, payload)
                    continue
                else:
                    conn = self._route(topic)
                    if conn.dropped:
                        continue  # the device is off line: nothing leaves it
                if conn.outstanding >= conn.window:
                    conn.flush_burst()
                    self._wait_room(conn)
                conn.publish(topic if raw else self.prefix + topic, payload, retain)
                used[id(conn)] = conn
                self.published += 1
        finally:
            for conn in used.values():
                conn.flush_burst()

    def _state(self, topic: str, payload: bytes) -> None:
        eid = topic.split("/")[1]
        offline = b'"offline"' in payload
        conn = self.own.get(eid)
        if offline:
            if conn is None:
                # a shared connection cannot drop for one elevator: give it one with its own
                # will, then drop that (the broker publishes the will)
                conn = self.own[eid] = self._dedicated(eid)
                conn.start()
                self._wait_connected([conn])
            self._flush([conn])
            conn.drop()
            return
        if conn is not None and (conn.dropped or not conn.connected):
            conn.will = (self.prefix + wire.state_topic(eid), wire.state_payload(
                "offline", int(time.time() * 1000)))
            conn._new_client()
            conn.start()
            self._wait_connected([conn])
        target = conn if conn is not None else self._route(topic)
        target.publish(self.prefix + topic, payload, True)
        target.flush_burst()
        self.published += 1

    def _wait_room(self, conn: Connection) -> None:
        deadline = time.monotonic() + 30.0
        while conn.outstanding >= conn.window:
            if time.monotonic() > deadline:
                raise PublishError(f"broker stopped acknowledging on {conn.client_id}")
            self.poll(0.05, conns=[conn])

    def poll(self, timeout: float, *, conns: list[Connection] | None = None) -> None:
        """Wait up to timeout for acknowledgements and process them; keep connections alive."""
        conns = [c for c in (conns if conns is not None else self.connections)
                 if not c.dropped and c.fileno() >= 0]
        if not conns:
            time.sleep(max(0.0, timeout))
            return
        writing = [c for c in conns if c.client.want_write()]
        readable, writable, _ = select.select(conns, writing, [], max(0.0, timeout))
        for conn in writable:
            conn.client.loop_write()
        for conn in readable:
            conn.read()
        for conn in conns:
            conn.client.loop_misc()

    @property
    def outstanding(self) -> int:
        """Messages not yet acknowledged across all connections."""
        return sum(c.outstanding for c in self.connections if not c.dropped)

    def _flush(self, conns: list[Connection], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while any(c.outstanding > 0 for c in conns if not c.dropped):
            if time.monotonic() > deadline:
                raise PublishError("broker did not acknowledge every message in time")
            self.poll(0.05, conns=conns)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the broker has acknowledged everything sent."""
        self._flush(self.connections, timeout)

    def close(self, *, offline: bool = True) -> None:
        """Optionally mark every elevator offline (retained), flush, disconnect cleanly."""
        try:
            if offline:
                now = int(time.time() * 1000)
                for eid in self.ids:
                    conn = self.own.get(eid)
                    if conn is not None and conn.dropped:
                        continue
                    target = conn or self._route(wire.telemetry_topic(eid))
                    if target.outstanding >= target.window:
                        target.flush_burst()
                        self._wait_room(target)
                    target.publish(self.prefix + wire.state_topic(eid),
                                   wire.state_payload("offline", now), True)
                for conn in self.connections:
                    if not conn.dropped:
                        conn.flush_burst()
            self.flush()
        finally:
            for conn in self.connections:
                conn.close()
