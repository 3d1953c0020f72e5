"""Scale-out of `whistle rules`: one versus two processes reading the rules feed, and what
the feed costs against the alternative (republishing per partition on the broker).

A fresh database on WHISTLE_DATABASE_URL's server gets ``--elevators`` elevators; the
samples of ``--seconds`` seconds at 1 Hz (cars moving between floors, doors cycling) are
appended to the rules feed exactly as a standalone ingester does (one transaction per
batch of one second of the fleet). For 1 and 2 `whistle rules` subprocesses: start them,
wait until the partitions are shared fairly, stop them (SIGSTOP), append, let them go
(SIGCONT) and wait until every partition's cursor has reached its head; report samples/s
and the rules processes' CPU per sample (evaluation, alert writes, cursor updates). Then the
feed's own cost: ingest-side append per sample, and the same bodies published at QoS 1 to
``whistle/partition/{n}`` and received by a paho subscriber (both in this process).
Writes bench/results/scale.json (keys ``rules_1``, ``rules_2``, ``feed``)::

    WHISTLE_DATABASE_URL=... WHISTLE_MQTT_URL=... .venv/bin/python -m bench.rules_scale
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg

from bench.fleet import register
from bench.services import Services
from core.broker import parse_broker_url
from core.codec import Sample, Telemetry
from core.partitions import PARTITIONS
from core.stream import Committed
from storage import feed, leases
from storage.copybuf import Batch, Encoded, encode
from storage.db import migrate

RESULTS = Path(__file__).parent / "results" / "scale.json"
T0_MS = 1_741_071_600_000


def batches(pks: dict[str, int], seconds: int) -> list[Committed]:
    """One committed batch per second of the fleet."""
    out = []
    for s in range(seconds):
        msgs = []
        for i, (eid, pk) in enumerate(pks.items()):
            phase = (s + i) % 20
            moving = phase < 8
            floor = (s + i) // 20 % 10
            sample = Sample(ts=T0_MS + s * 1000, seq=s, floor=floor,
                            speed_mps=1.5 if moving else 0.0,
                            door="closed" if moving or phase > 16 else "open",
                            pos_m=floor * 3.0, load_kg=300.0, occupied=moving,
                            door_lock=moving, safety_chain=True)
            msgs.append((eid, pk, Telemetry([sample], [(T0_MS + s * 1000) * 1000])))
        out.append(Committed(msgs, []))
    return out


def cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def caught_up(conn: psycopg.Connection) -> bool:
    return feed.behind(conn) == 0


def run_rules(url: str, mqtt_url: str, work: list[Committed], n: int, k: int,
              tmp: Path) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        feed.clear(conn)
        conn.execute("TRUNCATE rules_partitions, rules_members, rule_state, alerts CASCADE")
        env = dict(os.environ, WHISTLE_DATABASE_URL=url, WHISTLE_MQTT_URL=mqtt_url,
                   WHISTLE_RULES_LEASE_S="15", WHISTLE_LOG_LEVEL="warning",
                   WHISTLE_DATA_DIR=str(tmp), WHISTLE_ADMIN_TOKEN="bench-" + "x" * 32,
                   WHISTLE_MQTT_TOPIC_PREFIX=f"bench-{uuid.uuid4().hex[:6]}/")
        procs = [subprocess.Popen([sys.executable, "-m", "whistle", "rules"], env=env,
                                  stdout=subprocess.DEVNULL) for _ in range(k)]
        try:
            deadline = time.monotonic() + 120
            while True:
                owners = leases.owners(conn)
                counts = sorted(list(owners.values()).count(o) for o in set(owners.values()))
                if None not in owners.values() and len(owners) == PARTITIONS and \
                        len(counts) == k and counts[-1] - counts[0] <= 1:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"partitions not shared: {counts}")
                time.sleep(0.2)
            time.sleep(2)  # let start-up work settle
            ps = [psutil.Process(p.pid) for p in procs]
            for p in procs:  # the backlog is written while they wait, then timed alone
                p.send_signal(signal.SIGSTOP)
            for c, enc in zip(work, layouts(work), strict=True):
                with conn.transaction():
                    feed.append(conn, c, enc)
            cpu0, t0 = cpu(ps), time.perf_counter()
            for p in procs:
                p.send_signal(signal.SIGCONT)
            while not caught_up(conn):
                time.sleep(0.02)
            seconds, used = time.perf_counter() - t0, cpu(ps) - cpu0
            rss_mb = sum(p.memory_info().rss for p in ps) / 2**20
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
    return {"processes": k, "samples": n, "seconds": round(seconds, 2),
            "samples_per_s": round(n / seconds), "cpu_s": round(used, 2),
            "cpu_us_per_sample": round(used / n * 1e6, 1), "rss_mb": round(rss_mb, 1)}


def layouts(work: list[Committed]) -> list[Encoded]:
    """Each batch's COPY layout, from which the ingester writes the feed's columns."""
    out = []
    for c in work:
        batch = Batch()
        for _eid, pk, tel in c.messages:
            batch.add(pk, tel)
        out.append(encode(batch))
    return out


def feed_cost(url: str, mqtt_url: str, work: list[Committed], n: int) -> dict[str, Any]:
    """The ingest side of each design, per sample: feed rows vs QoS 1 republishing."""
    with psycopg.connect(url, autocommit=True) as conn:
        feed.clear(conn)
        encoded = layouts(work)  # the COPY layout, which the ingester has made anyway
        c0, t0 = time.process_time(), time.perf_counter()
        for c, enc in zip(work, encoded, strict=True):
            with conn.transaction():
                feed.append(conn, c, enc)
        pg_wall, pg_cpu = time.perf_counter() - t0, time.process_time() - c0
        c0, t0 = time.process_time(), time.perf_counter()
        rows, _last = feed.read(conn, dict.fromkeys(range(PARTITIONS), 0), limit=len(work))
        read = feed.decode(body for _p, _s, body in rows)
        read_wall, read_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert sum(len(m[2].samples) for m in read.messages) == n
    bodies = [body for c, enc in zip(work, encoded, strict=True)
              for body in feed.split(c, enc).items()]
    address = parse_broker_url(mqtt_url)
    got = threading.Semaphore(0)
    prefix = f"bench-{uuid.uuid4().hex[:6]}/whistle/partition/"
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    ready = threading.Event()
    sub.on_connect = lambda c, *a: c.subscribe(prefix + "#", qos=1)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda _c, _u, m: (feed.decode([m.payload]), got.release())
    sub.connect(address.host, address.port)
    sub.loop_start()
    ready.wait(10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    pub.max_inflight_messages_set(1000)
    pub.connect(address.host, address.port)
    pub.loop_start()
    c0, t0 = time.process_time(), time.perf_counter()
    window = 200  # the broker's queue per subscriber is bounded: stay well below it
    received = 0
    for i, (p, body) in enumerate(bodies):
        pub.publish(f"{prefix}{p}", body, qos=1)
        while i - received >= window:
            if not got.acquire(timeout=10):
                raise RuntimeError("the broker dropped republished rows")
            received += 1
    while received < len(bodies):
        if not got.acquire(timeout=10):
            raise RuntimeError("the broker dropped republished rows")
        received += 1
    mq_wall, mq_cpu = time.perf_counter() - t0, time.process_time() - c0
    for client in (pub, sub):
        client.disconnect()
        client.loop_stop()
    us = 1e6 / n
    return {"samples": n, "rows": len(bodies),
            "pg_append_us_per_sample": round(pg_wall * us, 2),
            "pg_append_cpu_us_per_sample": round(pg_cpu * us, 2),
            "pg_read_decode_us_per_sample": round(read_wall * us, 2),
            "pg_read_decode_cpu_us_per_sample": round(read_cpu * us, 2),
            "mqtt_publish_receive_us_per_sample": round(mq_wall * us, 2),
            "mqtt_publish_receive_cpu_us_per_sample": round(mq_cpu * us, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--elevators", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    # This machine's servers when configured, else a private PostgreSQL and Mosquitto.
    svc = None if "WHISTLE_DATABASE_URL" in os.environ and "WHISTLE_MQTT_URL" in os.environ \
        else Services("whistle")
    server = svc.url if svc else os.environ["WHISTLE_DATABASE_URL"]
    mqtt_url = svc.mqtt_url if svc else os.environ["WHISTLE_MQTT_URL"]
    name = f"whistle_bench_scale_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = server.rpartition("/")[0] + "/" + name
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / name
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        migrate(url)
        ids = [f"B{i:05d}" for i in range(a.elevators)]
        with psycopg.connect(url, autocommit=True) as conn:
            register(conn, ids, travel_m=30.0, rated_load_kg=1000.0, floors=11)
            pks = {r[0]: r[1] for r in conn.execute("SELECT id, pk FROM elevators")}
        work = batches(pks, a.seconds)
        n = a.elevators * a.seconds
        result: dict[str, Any] = {}
        for k in (1, 2):
            result[f"rules_{k}"] = run_rules(url, mqtt_url, work, n, k, tmp)
            print(f"rules_{k}", result[f"rules_{k}"], flush=True)
        result["feed"] = feed_cost(url, mqtt_url, work, n)
        print("feed", result["feed"], flush=True)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if svc is not None:
            svc.close()
    result["machine"] = {"cpus": os.cpu_count(), "elevators": a.elevators,
                         "seconds_of_fleet": a.seconds}
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    old.update(result)
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")


if __name__ == "__main__":
    main()
