"""`make bench-storage`: telemetry bytes per sample on disk, raw and compacted.

The simulator's residential fleet (``--elevators`` cars for ``--hours`` hours at 1 Hz, no
injected faults) is written through the ingester's own write path (storage.intake, one
batch per tick: one sample per elevator, the worst case for the per-minute rollup) into a
fresh database, then compacted by storage.compaction. Sizes are pg_total_relation_size
(heap, TOAST and indexes) of every partition. The API's raw samples of a few elevators
are read before and after compaction and must be identical. The write is repeated with
the late-sample rollup trigger disabled, to show what it costs the ingest statement; the
rollup's own pass over the closed minutes (storage.rollup.advance) is timed apart.
Writes bench/results/storage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench import fleet as bench_fleet
from core.codec import TelemetryDecoder
from simulators.buildings import RESIDENTIAL
from simulators.fleet import Fleet, FleetConfig
from storage import compaction, partitions, rollup, telemetry
from storage.copybuf import Batch, encode
from storage.db import migrate
from storage.intake import write_telemetry

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "storage.json"
PER_DAY_10K = 10_000 * 86_400


def ticks(sim: Fleet) -> list[list[tuple[str, bytes]]]:
    """The fleet's telemetry payloads, one list per tick."""
    out = []
    for _, msgs in sim.messages():
        out.append([(topic.split("/")[1], payload) for topic, payload, _ in msgs
                    if topic.endswith("/telemetry")])
    return out


def write_all(url: str, data: list[list[tuple[str, bytes]]], pks: dict[str, int]) -> float:
    """Write every tick as one batch; seconds spent in write_telemetry."""
    decoder = TelemetryDecoder()
    now_us = int(time.time() * 1e6)
    spent = 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        for tick in data:
            batch = Batch()
            for eid, payload in tick:
                batch.add(pks[eid], decoder.decode(payload, now_us))
            enc = encode(batch)
            t0 = time.perf_counter()
            write_telemetry(conn, enc)
            spent += time.perf_counter() - t0
    return spent


def size(conn: psycopg.Connection, parents: tuple[str, ...]) -> int:
    """Bytes on disk of every partition of the given tables (heap, TOAST, indexes)."""
    row = conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = ANY(%s::regclass[])",
        (list(parents),)).fetchone()
    return int(row[0]) if row else 0


def samples_json(conn: psycopg.Connection, pk: int, start: datetime, end: datetime) -> str:
    rows = telemetry.raw(conn, elevator_pk=pk, start=start, end=end, limit=10_000)
    return json.dumps(rows, default=str, sort_keys=True)


def run(server: str, elevators: int, hours: float) -> dict[str, Any]:
    name = f"whistle_bench_storage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        migrate(url)
        now = datetime.now(UTC)
        start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=3)
        sim = Fleet(FleetConfig(elevators=elevators, buildings=RESIDENTIAL, seed=13,
                                start_ts_ms=int(start.timestamp() * 1000),
                                duration_s=hours * 3600))
        ids = sim.ids
        with psycopg.connect(url, autocommit=True) as conn:
            bench_fleet.register(conn, ids, travel_m=120.0, rated_load_kg=1600.0)
            pks = {r[0]: r[1] for r in conn.execute("SELECT id, pk FROM elevators")}
            partitions.ensure(conn, partitions.RAW, start)
        t_sim = time.perf_counter()
        data = ticks(sim)
        sim_s = time.perf_counter() - t_sim
        spent: dict[bool, list[float]] = {False: [], True: []}
        for trigger in (False, True, False, True):  # interleaved: the machine is noisy
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("TRUNCATE telemetry, telemetry_minutes")
                conn.execute(f"ALTER TABLE telemetry {'ENABLE' if trigger else 'DISABLE'} "
                             "TRIGGER telemetry_roll_up_late")
                conn.execute("UPDATE telemetry_rollup_mark SET minute = %s", (start,))
            spent[trigger].append(write_all(url, data, pks))  # with the trigger: none late
        plain_s, rolled_s = min(spent[False]), min(spent[True])
        with psycopg.connect(url, autocommit=True) as conn:
            t0 = time.perf_counter()
            rollup.advance(conn, now=now)
            rollup_s = time.perf_counter() - t0
            conn.execute("VACUUM ANALYZE")
            n = telemetry.count(conn)
            raw_bytes = size(conn, ("telemetry",))
            minutes_bytes = size(conn, ("telemetry_minutes",))
            end = start + timedelta(hours=hours)
            probe = [pks[e] for e in ids[:: max(1, elevators // 5)]]
            before = [samples_json(conn, pk, start, end) for pk in probe]
            t0 = time.perf_counter()
            compacted = compaction.compact(conn, now=now)
            compact_s = time.perf_counter() - t0
            conn.execute("VACUUM ANALYZE")
            after = [samples_json(conn, pk, start, end) for pk in probe]
            blocks_bytes = size(conn, ("telemetry_blocks",))
            compression = conn.execute(
                "SELECT string_agg(DISTINCT attcompression::text, ',') FROM pg_attribute "
                "WHERE attrelid = 'telemetry_blocks'::regclass AND attcompression <> ''"
                ).fetchone()
            server_version = conn.info.server_version
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    per_raw = raw_bytes / n
    per_compacted = blocks_bytes / n
    return {
        "fleet": f"simulator residential, {elevators} elevators x {hours} h at 1 Hz",
        "samples": n, "samples_compacted": compacted,
        "bytes_per_sample_raw": round(per_raw, 1),
        "bytes_per_sample_compacted": round(per_compacted, 2),
        "bytes_per_sample_rollup": round(minutes_bytes / n, 2),
        "projected_gb_per_day_10k": round(per_compacted * PER_DAY_10K / 1e9, 1),
        "projected_gb_per_day_10k_raw": round(per_raw * PER_DAY_10K / 1e9, 1),
        "projected_gb_per_day_10k_rollup": round(minutes_bytes / n * PER_DAY_10K / 1e9, 2),
        "toast_compression": {"l": "lz4", "p": "pglz"}.get(
            compression[0] if compression else ""),
        "api_samples_identical_after_compaction": before == after,
        "compaction_s": round(compact_s, 2),
        "write_us_per_sample_without_rollup": round(plain_s / n * 1e6, 2),
        "write_us_per_sample_with_rollup_trigger": round(rolled_s / n * 1e6, 2),
        "rollup_us_per_sample": round(rollup_s / n * 1e6, 2),
        "simulate_s": round(sim_s, 1),
        "postgresql": server_version, "machine": platform.node(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elevators", type=int, default=200)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--url", default=os.environ.get("WHISTLE_DATABASE_URL"),
                        help="a PostgreSQL server's maintenance database (default: "
                             "WHISTLE_DATABASE_URL, else an embedded server)")
    args = parser.parse_args()
    if args.url:
        result = run(args.url, args.elevators, args.hours)
    else:
        import tempfile

        from whistle.embedded.postgres import EmbeddedPostgres

        with tempfile.TemporaryDirectory(prefix="whistle-bench-") as tmp:
            Path(tmp).chmod(0o755)
            pg = EmbeddedPostgres(Path(tmp))
            try:
                result = run(pg.start(), args.elevators, args.hours)
            finally:
                pg.stop(mode="immediate")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
