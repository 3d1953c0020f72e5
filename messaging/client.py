"""The subscriber's paho client: stock paho plus batched acknowledgements, buffered reads
and a lean path for the common PUBLISH.

These use paho internals (``_packet_queue``, ``_sock_recv``, ``loop_read``,
``_sock_close``, ``_handle_publish``, ``_handle_on_message``), so they are tied to the paho
versions they were tested with (``TESTED_PAHO``; tests/ingest/test_client.py runs them
side by side with stock paho against a real Mosquitto: packets split across reads,
256 KiB packets, keepalive, reconnects, TLS, MQTT 5 properties, per-topic callbacks). With
another paho version the client falls back to paho's own reads and decoding, with a log
line saying so.
"""

from __future__ import annotations

import struct
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.client import PUBACK, CallbackOnMessage, MQTTMessage, time_func
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = structlog.get_logger(__name__)

_PUBACK = struct.Struct("!BBH")  # fixed header (PUBACK), remaining length 2, packet id
READ_CHUNK = 64 * 1024
TESTED_PAHO = ("2.2.",)  # paho-mqtt releases tested (pyproject pins the same)

__all__ = ["READ_CHUNK", "TESTED_PAHO", "AckBatchingClient", "BufferedClient", "make_client"]


class AckBatchingClient(mqtt.Client):
    """paho's client plus one method: acknowledge many QoS 1 messages in one write.

    paho's ``ack()`` queues one packet and wakes its network loop per message, which
    then sends each PUBACK with its own system call; after a commit of a few thousand
    messages that is most of the ingester's work. Here the PUBACKs of a batch become one
    queued buffer, one wake-up and one send. It uses paho's ``_packet_queue`` (the same
    call ``ack()`` ends in), which is why paho is pinned (to the releases tested).
    """

    buffered_reads = False

    def ack_many(self, mids: list[int]) -> None:
        """Send PUBACK for each packet id, in order, with one queued write."""
        if mids:
            packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
            self._packet_queue(PUBACK, packet, 0, 0)


class _Message(MQTTMessage):
    """paho's message, with its ``info`` and (MQTT 5) empty ``properties`` made on first use.

    paho makes both for every PUBLISH received (a threading.Condition and a Properties
    object whose constructor sets some thirty attributes): about a fifth of the CPU of a
    1-sample message, for objects a subscriber rarely reads.
    """

    __slots__ = ("_info", "_props")

    def __init__(self, mid: int, topic: bytes, qos: int, retain: bool, dup: bool,
                 payload: bytes, v5: bool) -> None:  # no super().__init__: it makes info
        self.timestamp = time_func()
        self.state = mqtt.mqtt_ms_invalid
        self.dup = dup
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self._info: mqtt.MQTTMessageInfo | None = None
        self._props: Properties | bool | None = v5  # True: an empty one, when asked

    @property  # type: ignore[override]
    def info(self) -> mqtt.MQTTMessageInfo:
        if self._info is None:
            self._info = mqtt.MQTTMessageInfo(self.mid)
        return self._info

    @info.setter
    def info(self, value: mqtt.MQTTMessageInfo) -> None:
        self._info = value

    @property  # type: ignore[override]
    def properties(self) -> Properties | None:
        if self._props is True:
            self._props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        return self._props or None

    @properties.setter
    def properties(self, value: Properties | None) -> None:
        self._props = value


class BufferedClient(AckBatchingClient):
    """Reads the socket in chunks of up to READ_CHUNK bytes and serves paho's reads from them;
    decodes a plain QoS 0/1 PUBLISH without paho's per-message extras.

    paho reads each packet with several recv() calls (one byte of fixed header, one per
    remaining-length byte, then the rest): for 1-sample messages most of the ingester's
    system calls. Here one recv() fills a buffer that serves paho's small reads, and
    loop_read drains it before paho waits on the socket again (select cannot see bytes
    that are already buffered). The buffer is dropped with the socket, so no byte of an
    old connection is read on the next. TLS is below this: the chunk is what the SSL
    socket decrypted, and paho's SSLWantRead handling is unchanged.

    A PUBLISH at QoS 0 or 1 without MQTT 5 properties, while no paho logging is on, is
    decoded here into a message equal to paho's (see :class:`_Message`) and handed to
    ``on_message`` directly when no per-topic callback is registered, with paho's locking
    and exception handling; anything else (QoS 2, properties, an empty topic, a short
    packet, logging) goes through paho's own code.
    """

    buffered_reads = True
    _rbuf: bytes = b""
    _rpos: int = 0
    _topic_callbacks = False

    def _sock_recv(self, bufsize: int) -> bytes:
        pos = self._rpos
        buf = self._rbuf
        if pos >= len(buf):
            buf = super()._sock_recv(READ_CHUNK)  # BlockingIOError when nothing is there
            if not buf:
                return buf  # end of stream: paho handles the lost connection
            self._rbuf, pos = buf, 0
        if pos == 0 and bufsize >= len(buf):
            self._rpos = len(buf)
            return buf  # all of it: no copy
        chunk = buf[pos:pos + bufsize]
        self._rpos = pos + len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while (rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf)
               and self._sock is not None):
            rc = super().loop_read(max_packets)
        return rc

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # bytes of the old connection must not leak
        super()._sock_close()

    # --- the lean PUBLISH path ------------------------------------------------------------
    def message_callback_add(self, sub: str, callback: CallbackOnMessage) -> None:
        self._topic_callbacks = True  # from now on, paho matches topics (never reset)
        super().message_callback_add(sub, callback)

    def _handle_publish(self) -> MQTTErrorCode:
        header = self._in_packet["command"]
        packet = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        end = len(packet)
        slen = (packet[0] << 8 | packet[1]) if end >= 2 else 0
        pos = 2 + slen
        mid = 0
        if qos == 1 and pos + 2 <= end:
            mid = packet[pos] << 8 | packet[pos + 1]
            pos += 2
        if (qos > 1 or slen == 0 or pos > end or (qos == 1 and mid == 0)
                or (v5 and (pos >= end or packet[pos] != 0))  # properties: paho's code
                or self.on_log is not None or self._logger is not None):
            return super()._handle_publish()  # type: ignore[misc,no-any-return]
        if v5:
            pos += 1  # the property length, 0
        with memoryview(packet) as view:
            message = _Message(mid, bytes(view[2:2 + slen]), qos, (header & 0x01) != 0,
                               (header & 0x08) != 0, bytes(view[pos:]), v5)
        on_message = self.on_message
        if self._topic_callbacks or on_message is None:
            self._handle_on_message(message)  # type: ignore[misc]
        else:
            with self._in_callback_mutex:
                try:
                    on_message(self, self._userdata, message)
                except Exception as err:
                    self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s",
                                   err)
                    if not self.suppress_exceptions:
                        raise
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)  # type: ignore[misc,no-any-return]
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def buffered_reads_tested(version: str | None = None) -> bool:
    """Whether this paho release is one the buffered reads were tested with."""
    version = version or paho.mqtt.__version__
    return version.startswith(TESTED_PAHO)


def make_client(**kwargs: Any) -> AckBatchingClient:
    """A BufferedClient on a tested paho, else paho's own reads (with a log line)."""
    if buffered_reads_tested():
        return BufferedClient(**kwargs)
    log.warning("paho-mqtt release not tested with buffered reads; using paho's own reads",
                paho=paho.mqtt.__version__, tested=[v + "x" for v in TESTED_PAHO])
    return AckBatchingClient(**kwargs)
