"""The benchmark's load: the same messages as the Node-RED peer's bench.py, and a publisher."""

from __future__ import annotations

import json
import threading
import time

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
