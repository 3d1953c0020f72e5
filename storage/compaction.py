"""Compaction and telemetry retention on plain PostgreSQL (CONTRACT section 10).

Samples older than a day move from the raw daily partitions into ``telemetry_blocks``: one
row per elevator and hour, one array per column, in (ts, seq) order. Those arrays are
large values that PostgreSQL itself compresses (TOAST, lz4 where the server has it, set
per column by migration 0012) and stores out of line; no codec of Whistle's own is
involved, and ``telemetry_samples()`` (SQL) unnests them back into exactly the rows that
were stored. A raw partition is compacted and dropped in one transaction.

Retention drops whole partitions (raw or blocks) once their range is older than the
retention; first the samples from 5 minutes before to 5 minutes after each alert of the
same elevator are copied, as blocks, into ``telemetry_kept``, which retention leaves alone
while the alert exists. The default partitions (samples that arrived for a range without a
partition) are swept row by row with the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import structlog

from storage import partitions, rollup
from storage.partitions import BLOCKS, MINUTES, RAW

log = structlog.get_logger(__name__)

COMPACT_AFTER = timedelta(days=1)
AROUND_ALERT = timedelta(minutes=5)
COLUMNS = ("ts", "seq", "floor", "pos_m", "speed_mps", "door", "door_lock", "safety_chain",
           "level_mm", "load_kg", "occupied", "alarm", "motor_temp_c", "power", "mode",
           "fault", "vib_rms", "vib_p2p")
_UNNEST = (f"unnest({', '.join('b.' + c for c in COLUMNS)}) AS u({', '.join(COLUMNS)})")
IN_ALERT_WINDOW = """EXISTS (
    SELECT 1 FROM alerts a WHERE a.elevator_pk = t.elevator_pk
       AND t.ts BETWEEN a.opened_at - %(around)s
                    AND coalesce(a.resolved_at, 'infinity') + %(around)s)"""

Progress = Callable[[str, int], None]


def flat(table: str, where: str = "true") -> str:
    """SQL: the samples of a raw (telemetry) or block table as telemetry rows."""
    if table.startswith(("telemetry_blocks", "telemetry_kept")):
        return f"SELECT b.elevator_pk, u.* FROM {table} b, {_UNNEST} WHERE {where}"
    return f"SELECT * FROM {table} WHERE {where}"


def merge(target: str, source: str) -> str:
    """SQL: fold the telemetry rows of ``source`` into the blocks of ``target``, merging
    with blocks already there (a sample stored twice is kept once)."""
    arrays = ", ".join(f"array_agg({c} ORDER BY ts, seq)" for c in COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in ("samples", *COLUMNS))
    return f"""
    WITH src AS ({source}),
    keys AS (SELECT DISTINCT elevator_pk, date_bin('1 hour', ts, 'epoch') AS hour FROM src),
    old AS (SELECT b.elevator_pk, u.* FROM {target} b JOIN keys k USING (elevator_pk, hour),
                   {_UNNEST}),
    every AS (SELECT DISTINCT ON (elevator_pk, ts, seq) *
                FROM (SELECT * FROM src UNION ALL SELECT * FROM old) AS x)
    INSERT INTO {target} AS b
    SELECT elevator_pk, date_bin('1 hour', ts, 'epoch'), count(*), {arrays}
      FROM every GROUP BY 1, 2
    ON CONFLICT (elevator_pk, hour) DO UPDATE SET {sets}"""


def _count(conn: psycopg.Connection[Any], source: str, params: dict[str, Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM ({source}) AS s", params).fetchone()
    return int(row[0]) if row else 0


def _compression(conn: psycopg.Connection[Any]) -> None:
    # The columns carry their compression (migration 0012); this covers a server whose
    # default was changed and partitions attached from elsewhere.
    lz4 = conn.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                       "WHERE name = 'default_toast_compression'").fetchone()
    if lz4 and lz4[0]:
        conn.execute("SET LOCAL default_toast_compression = lz4")


def compact(conn: psycopg.Connection[Any], *, now: datetime,
            progress: Progress | None = None) -> int:
    """Compact every raw partition (and default-partition row) older than COMPACT_AFTER;
    the number of samples compacted (only what the rollup already holds). ``conn`` in
    autocommit mode."""
    rolled = rollup.mark(conn)  # never compact what the rollup has not seen
    cutoff = min(now - COMPACT_AFTER, rolled) if rolled is not None else None
    if cutoff is None:
        return 0
    done = 0
    for name, lo, hi in partitions.partitions(conn, RAW):
        if hi > cutoff:
            continue
        try:
            partitions.ensure(conn, BLOCKS, lo)
            with conn.transaction():
                _compression(conn)
                n = _count(conn, flat(name), {})
                conn.execute(merge(BLOCKS.parent, flat(name)))
                partitions.drop(conn, name)
        except psycopg.errors.LockNotAvailable:
            log.warning("partition not compacted: table busy; next sweep", partition=name)
            continue
        done += n
        if progress is not None:
            progress("telemetry compacted", n)
    # Rows of the default partition, up to a whole hour (its block is then complete).
    edge = {"edge": cutoff}
    stray = flat(RAW.default, "ts < date_bin('1 hour', %(edge)s, 'epoch')")
    with conn.transaction():
        _compression(conn)
        n = _count(conn, stray, edge)
        if n:
            conn.execute(merge(BLOCKS.parent, stray), edge)
            conn.execute(f"DELETE FROM {RAW.default} WHERE ts < date_bin('1 hour', "
                         "%(edge)s, 'epoch')", edge)
    if progress is not None and n:
        progress("telemetry compacted", n)
    return done + n


def _expire(conn: psycopg.Connection[Any], table: str, where: str,
            params: dict[str, Any]) -> int:
    """Keep the samples of ``table`` (matching ``where``) around alerts, then remove them
    (the whole table if ``where`` is None): the number of samples removed."""
    samples = flat(table, where)
    keep = f"SELECT t.* FROM ({samples}) AS t WHERE {IN_ALERT_WINDOW}"
    p = {**params, "around": AROUND_ALERT}
    with conn.transaction():
        _compression(conn)
        total = _count(conn, samples, p)
        kept = _count(conn, keep, p)
        if kept:
            conn.execute(merge("telemetry_kept", keep), p)
        if where == "true":
            partitions.drop(conn, table)
        else:
            conn.execute(f"DELETE FROM {table} b WHERE {where}", p)
    return total - kept


def expire(conn: psycopg.Connection[Any], *, now: datetime, telemetry_days: int,
           rollup_days: int, progress: Progress | None = None) -> dict[str, int]:
    """Retention of telemetry (raw, blocks, kept) and of the rollup; rows removed per kind."""
    cutoff = now - timedelta(days=telemetry_days)
    removed = {"telemetry": 0, "telemetry_partitions": 0, "telemetry_minutes": 0}

    def count(kind: str, n: int) -> None:
        removed[kind] += n
        if progress is not None and n:
            progress(kind, n)

    for family in (RAW, BLOCKS):
        for name, _, hi in partitions.partitions(conn, family):
            if hi <= cutoff:
                try:
                    count("telemetry", _expire(conn, name, "true", {}))
                except psycopg.errors.LockNotAvailable:
                    log.warning("partition not dropped: table busy; next sweep", partition=name)
                    continue
                count("telemetry_partitions", 1)
    count("telemetry", _expire(conn, RAW.default, "ts < %(cutoff)s", {"cutoff": cutoff}))
    count("telemetry", _expire(conn, BLOCKS.default, "b.hour + interval '1 hour' <= %(cutoff)s",
                               {"cutoff": cutoff}))
    # Kept blocks go with the last alert they were kept for (alerts leave with their
    # elevator only).
    row = conn.execute(
        "WITH gone AS (DELETE FROM telemetry_kept k WHERE NOT EXISTS (SELECT 1 FROM alerts a "
        "WHERE a.elevator_pk = k.elevator_pk AND a.opened_at - %(around)s "
        "< k.hour + interval '1 hour' "
        "AND coalesce(a.resolved_at, 'infinity') + %(around)s >= k.hour) "
        "RETURNING samples) SELECT coalesce(sum(samples), 0) FROM gone",
        {"around": AROUND_ALERT}).fetchone()
    count("telemetry", int(row[0]) if row else 0)
    rollup_cutoff = now - timedelta(days=rollup_days)
    for name, _, hi in partitions.partitions(conn, MINUTES):
        if hi <= rollup_cutoff:
            try:
                with conn.transaction():
                    row = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                    partitions.drop(conn, name)
            except psycopg.errors.LockNotAvailable:
                log.warning("partition not dropped: table busy; next sweep", partition=name)
                continue
            count("telemetry_minutes", int(row[0]) if row else 0)
    count("telemetry_minutes", conn.execute(
        f"DELETE FROM {MINUTES.default} WHERE minute < %s", (rollup_cutoff,)).rowcount)
    return removed
