"""The benchmark's load: the same messages as the Node-RED peer's bench.py, and a publisher."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

DOORS = ("closed", "opening", "open", "closing")


def make_messages(n: int, batch: int, elevators: int, t0_ms: int) -> list[tuple[str, bytes]]:
    """N samples for `elevators` lifts, 1 Hz each, BATCH consecutive samples per message.

    Byte for byte the shape of ../shared/peers/node-red/bench.py, so both ingesters parse
    the same payloads (~236 bytes per sample).
    """
    per_elevator = [0] * elevators
    msgs: list[tuple[str, bytes]] = []
    made = 0
    e = 0
    while made < n:
        k = min(batch, n - made)
        samples = []
        for _ in range(k):
            seq = per_elevator[e]
            per_elevator[e] += 1
            floor = (seq // 10) % 20
            moving = seq % 10 < 6
            samples.append({
                "ts": t0_ms + seq * 1000, "seq": seq, "floor": floor,
                "pos_m": round(floor * 3.2 + (1.1 if moving else 0.0), 3),
                "speed_mps": 1.6 if moving else 0.0,
                "door": "closed" if moving else DOORS[seq % 4], "door_lock": moving,
                "safety_chain": True, "level_mm": 0.0 if moving else 2.5,
                "load_kg": float(80 * (seq % 9)), "occupied": seq % 9 != 0, "alarm": False,
                "motor_temp_c": 41.5 + (seq % 7) * 0.25, "power": "mains", "mode": "normal",
            })
        payload = samples[0] if batch == 1 else samples
        msgs.append((f"lift/el-{e:04d}/telemetry",
                     json.dumps(payload, separators=(",", ":")).encode()))
        made += k
        e = (e + 1) % elevators
    return msgs


class Publisher:
    """paho QoS 1 publisher keeping at most `window` unacknowledged messages."""

    def __init__(self, host: str, port: int, window: int) -> None:
        self.slots = threading.BoundedSemaphore(window)
        self.acked = 0
        self.done = threading.Event()
        self.expect = 0
        connected = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}",
                        protocol=mqtt.MQTTv311, clean_session=True)
        c.max_inflight_messages_set(window)
        c.max_queued_messages_set(0)
        c.on_connect = lambda *a: connected.set()
        c.on_publish = self._on_publish
        c.connect(host, port, keepalive=60)
        c.loop_start()
        if not connected.wait(10):
            raise SystemExit(f"bench: cannot connect to MQTT {host}:{port}")
        self.client = c

    def _on_publish(self, *_a: object) -> None:
        self.acked += 1
        self.slots.release()
        if self.acked >= self.expect:
            self.done.set()

    def publish_all(self, msgs: list[tuple[str, bytes]]) -> float:
        """Publish everything and wait for every PUBACK; return the seconds it took."""
        self.acked = 0
        self.expect = len(msgs)
        self.done.clear()
        t0 = time.monotonic()
        for topic, payload in msgs:
            self.slots.acquire()
            self.client.publish(topic, payload, qos=1)
        self.done.wait(600)
        return time.monotonic() - t0

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class PublisherProcess:
    """The Publisher in a process of its own, as the Node-RED peer's bench.py runs it.

    ``python -m bench.load`` makes the same messages (same arguments, same bytes), connects,
    says "ready", publishes when told, and reports the wall clock of its first publish.
    """

    def __init__(self, port: int, n: int, batch: int, elevators: int, t0_ms: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--port", str(port), "--n", str(n),
             "--batch", str(batch), "--elevators", str(elevators), "--t0-ms", str(t0_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[1])
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise SystemExit(f"bench: the publisher process did not start: {line!r}")

    def go(self) -> None:
        """Start publishing."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self) -> tuple[float, float]:
        """(wall clock of the first publish, seconds until the last PUBACK)."""
        assert self.proc.stdout is not None
        out = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return float(out["t0"]), float(out["publish_s"])


def main() -> None:
    """Publish make_messages(n, batch, elevators, t0_ms) once told to on stdin."""
    ap = argparse.ArgumentParser()
    for name in ("--port", "--n", "--batch", "--elevators", "--t0-ms"):
        ap.add_argument(name, type=int, required=True)
    ap.add_argument("--window", type=int, default=100)
    a = ap.parse_args()
    msgs = make_messages(a.n, a.batch, a.elevators, a.t0_ms)
    pub = Publisher("127.0.0.1", a.port, a.window)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.time()
    publish_s = pub.publish_all(msgs)
    print(json.dumps({"t0": t0, "publish_s": publish_s}), flush=True)
    pub.close()


if __name__ == "__main__":
    main()
