"""Where a message's CPU goes, step by step, without a broker or a database.

    python -m bench.steps [--n1 20000] [--n50 1000]

The bench's own messages (bench.load.make_messages) go through each step of the ingester
alone, timed with perf_counter, best of 5: paho reading and decoding the PUBLISH packets
(stock paho against Whistle's client, from an in-memory socket), the wire decoder
(msgspec decode, validation of every field, the Inbound), the hand-over (put and take),
and the prepare step (registry check, range limits, binary COPY layout; the layout alone
too). Figures are microseconds per message and per sample, for the README's "where the
time goes"; the database's and the broker's share is in `make bench`.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.load import make_messages
from core.accept import WireDecoder
from core.domain import ElevatorLimits, default_landings
from ingest.handover import Handover
from ingest.prepare import prepare
from messaging.client import BufferedClient
from messaging.subscriber import Inbound
from storage.copybuf import encode

ELEVATORS = 100


class MemorySocket:
    """recv() from bytes in memory; BlockingIOError at the end (a socket with nothing left)."""

    def __init__(self, data: bytes) -> None:
        self.view = memoryview(data)
        self.pos = 0

    def recv(self, n: int) -> bytes:
        if self.pos >= len(self.view):
            raise BlockingIOError
        out = bytes(self.view[self.pos:self.pos + n])
        self.pos += len(out)
        return out

    def close(self) -> None:
        pass


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """An MQTT 5 PUBLISH at QoS 1 with no properties, as Mosquitto sends it."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + struct.pack("!H", mid) + b"\x00" + payload
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (0x80 if n else 0))
        if not n:
            break
    return b"\x32" + bytes(length) + body


def paho_read(cls: type[mqtt.Client], wire: bytes, count: int) -> float:
    """Seconds for a client of cls to read and decode count PUBLISH packets of wire."""
    got = [0]

    def on_message(_c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
        got[0] += 1

    c = cls(callback_api_version=CallbackAPIVersion.VERSION2, client_id="steps",
            protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
    c.on_message = on_message
    c._sock = MemorySocket(wire)  # type: ignore[assignment]
    started = time.perf_counter()
    while got[0] < count:
        c.loop_read()
    return time.perf_counter() - started


def best(fn: Callable[[], float], repeats: int = 5) -> float:
    return min(fn() for _ in range(repeats))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def steps(n: int, batch: int) -> dict[str, float]:
    """Microseconds per message of each step, for n messages of batch samples."""
    msgs = make_messages(n * batch, batch, ELEVATORS, int(time.time() * 1000) - n * 1000)
    wire = b"".join(publish_packet(t, p, i % 65535 + 1) for i, (t, p) in enumerate(msgs))
    decoder = WireDecoder()
    now_us = time.time_ns() // 1000

    def decode_all() -> list[Inbound]:
        return [decoder.decode(t, p, now_us, Inbound, mid=1, qos=1, generation=1)  # type: ignore[misc]
                for t, p in msgs]

    items = decode_all()
    assert all(i.reject is None for i in items), items[0].reject

    def handover() -> float:
        h = Handover(max_bytes=1 << 40, batch_samples=1 << 30, linger_ms=0)
        started = time.perf_counter()
        for item in items:
            h.put(item)
        h.stop()  # take() then returns what is there without waiting for more
        while h.take():
            pass
        return time.perf_counter() - started

    limits = {f"el-{i:04d}": ElevatorLimits(i + 1, 1000.0, 70.0,
                                            tuple(default_landings(0, 20, 70.0)))
              for i in range(ELEVATORS)}

    class Registry:
        def refresh(self) -> dict[str, ElevatorLimits]:
            return limits

        def missing(self, _eid: str) -> None:
            return None

    chunk = max(1, 5000 // batch)  # the ingester's batches: 5000 samples at most
    parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    prepared = [prepare(part, Registry()) for part in parts]  # type: ignore[arg-type]
    assert sum(len(p.batch) for p in prepared) == n * batch
    us = 1e6 / n
    return {
        "paho_stock": best(lambda: paho_read(mqtt.Client, wire, n)) * us,
        "paho_whistle_client": best(lambda: paho_read(BufferedClient, wire, n)) * us,
        "wire_decode": best(lambda: timed(decode_all)) * us,
        "handover": best(handover) * us,
        "prepare_with_layout": best(lambda: timed(
            lambda: [prepare(part, Registry()) for part in parts])) * us,  # type: ignore[arg-type]
        "layout_only": best(lambda: timed(lambda: [encode(p.batch) for p in prepared])) * us,
    }


def main() -> None:
    """Print the steps as JSON: microseconds per message and per sample."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n1", type=int, default=20_000, help="1-sample messages")
    ap.add_argument("--n50", type=int, default=1_000, help="50-sample messages")
    a = ap.parse_args()
    out: dict[str, Any] = {}
    for n, batch in ((a.n1, 1), (a.n50, 50)):
        per_msg = steps(n, batch)
        out[f"{batch}-sample"] = {
            k: {"us_per_msg": round(v, 2), "us_per_sample": round(v / batch, 3)}
            for k, v in per_msg.items()}
        whistle = [v for k, v in per_msg.items() if k not in ("paho_stock", "layout_only")]
        out[f"{batch}-sample"]["sum_whistle_steps_us_per_sample"] = round(
            math.fsum(whistle) / batch, 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
