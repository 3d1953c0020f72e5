"""Reading telemetry back: raw samples or per-bucket aggregates, on either storage layout.

Samples come from ``telemetry_samples()`` (SQL, migration 0012), which returns the same
rows whether they are still in a raw partition, compacted into blocks, or kept with an
alert. Buckets of whole minutes read the per-minute rollup (``telemetry_minutes`` on
plain PostgreSQL, the continuous aggregate with TimescaleDB); only the partial minutes at
the edges of an unaligned range are aggregated from the samples.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from storage import partitions, rollup, timescale

Row = dict[str, Any]

SAMPLE_COLUMNS = """
    ts, seq, floor, pos_m, speed_mps, door_name(door) AS door, door_lock, safety_chain,
    level_mm, load_kg, occupied, alarm, motor_temp_c, power_name(power) AS power,
    mode_name(mode) AS mode, fault, vib_rms, vib_p2p"""

AGGREGATES = """
    count(*) AS samples,
    avg(speed_mps) AS speed_avg, max(abs(speed_mps)) AS speed_max,
    avg(pos_m) AS pos_avg, min(pos_m) AS pos_min, max(pos_m) AS pos_max,
    avg(load_kg) AS load_avg, max(load_kg) AS load_max,
    avg(motor_temp_c) AS temp_avg, max(motor_temp_c) AS temp_max,
    avg(vib_rms) AS vib_avg, max(vib_rms) AS vib_max,
    avg(level_mm) AS level_avg, max(abs(level_mm)) AS level_max"""

# Re-aggregating per-minute rows (TimescaleDB's continuous aggregate) into wider buckets.
ROLLUP = """
    sum(samples)::bigint AS samples,
    sum(speed_avg * samples) / nullif(sum(samples), 0) AS speed_avg, max(speed_max) AS speed_max,
    sum(pos_avg * samples) / nullif(sum(samples), 0) AS pos_avg,
    min(pos_min) AS pos_min, max(pos_max) AS pos_max,
    sum(load_avg * samples) / nullif(sum(samples), 0) AS load_avg, max(load_max) AS load_max,
    sum(temp_avg * samples) / nullif(sum(samples), 0) AS temp_avg, max(temp_max) AS temp_max,
    sum(vib_avg * samples) / nullif(sum(samples), 0) AS vib_avg, max(vib_max) AS vib_max,
    sum(level_avg * samples) / nullif(sum(samples), 0) AS level_avg,
    max(level_max) AS level_max"""


# The per-minute rollup of plain PostgreSQL, and the same sums from samples (edges).
MINUTE_PARTS = """
    samples, speed_sum, speed_max, pos_n, pos_sum, pos_min, pos_max, load_n, load_sum,
    load_max, temp_n, temp_sum, temp_max, vib_n, vib_sum, vib_max, level_n, level_sum,
    level_max"""
SAMPLE_PARTS = """
    count(*), coalesce(sum(speed_mps::float8), 0), max(abs(speed_mps)),
    count(pos_m), coalesce(sum(pos_m::float8), 0), min(pos_m), max(pos_m),
    count(load_kg), coalesce(sum(load_kg::float8), 0), max(load_kg),
    count(motor_temp_c), coalesce(sum(motor_temp_c::float8), 0), max(motor_temp_c),
    count(vib_rms), coalesce(sum(vib_rms::float8), 0), max(vib_rms),
    count(level_mm), coalesce(sum(level_mm::float8), 0), max(abs(level_mm))"""
FROM_PARTS = """
    sum(samples)::bigint AS samples,
    sum(speed_sum) / nullif(sum(samples), 0) AS speed_avg, max(speed_max) AS speed_max,
    sum(pos_sum) / nullif(sum(pos_n), 0) AS pos_avg,
    min(pos_min) AS pos_min, max(pos_max) AS pos_max,
    sum(load_sum) / nullif(sum(load_n), 0) AS load_avg, max(load_max) AS load_max,
    sum(temp_sum) / nullif(sum(temp_n), 0) AS temp_avg, max(temp_max) AS temp_max,
    sum(vib_sum) / nullif(sum(vib_n), 0) AS vib_avg, max(vib_max) AS vib_max,
    sum(level_sum) / nullif(sum(level_n), 0) AS level_avg, max(level_max) AS level_max"""
MINUTE = timedelta(minutes=1)
_floor_minute = rollup.floor_minute


def raw(conn: psycopg.Connection, *, elevator_pk: int, start: datetime, end: datetime,
        limit: int, offset: int = 0) -> list[Row]:
    """Samples in [start, end), oldest first, at most limit after skipping offset."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {SAMPLE_COLUMNS} FROM telemetry_samples(%s, %s, %s) "
            "ORDER BY ts, seq LIMIT %s OFFSET %s",
            (elevator_pk, start, end, limit, offset)).fetchall()


def buckets(conn: psycopg.Connection, *, elevator_pk: int, start: datetime, end: datetime,
            bucket_s: int, limit: int | None = None, offset: int = 0) -> list[Row]:
    """Aggregates per time bucket of bucket_s seconds in [start, end), oldest first (at
    most limit buckets after skipping offset).

    Whole-minute buckets read the per-minute rollup (see the module docstring); others
    group the samples (date_bin exists in both layouts).
    """
    params: dict[str, Any] = {
        "pk": elevator_pk, "start": start, "end": end, "width": f"{bucket_s} seconds",
        "limit": limit, "offset": offset}
    page = "GROUP BY 1 ORDER BY 1 LIMIT %(limit)s OFFSET %(offset)s"
    inner_start = _floor_minute(start)
    inner_start += MINUTE if inner_start < start else timedelta(0)
    inner_end = max(_floor_minute(end), inner_start)
    rolled = bucket_s % 60 == 0 and inner_start < inner_end
    if rolled and timescale.installed(conn):
        query = (f"SELECT date_bin(%(width)s::interval, bucket, 'epoch') AS ts, {ROLLUP} "
                 f"FROM {timescale.AGGREGATE_1M} WHERE elevator_pk = %(pk)s "
                 f"AND bucket >= %(start)s AND bucket < %(end)s {page}")
    elif rolled:
        # Minutes from the mark on are not rolled up yet: from the samples.
        inner_end = max(inner_start, min(inner_end, rollup.mark(conn) or inner_start))
        params |= {"inner_start": inner_start, "inner_end": inner_end}
        query = f"""
            SELECT date_bin(%(width)s::interval, minute, 'epoch') AS ts, {FROM_PARTS}
              FROM (SELECT minute, {MINUTE_PARTS} FROM telemetry_minutes
                     WHERE elevator_pk = %(pk)s
                       AND minute >= %(inner_start)s AND minute < %(inner_end)s
                    UNION ALL
                    SELECT date_bin('1 minute', ts, 'epoch'), {SAMPLE_PARTS}
                      FROM telemetry_samples(%(pk)s, %(start)s, %(inner_start)s) GROUP BY 1
                    UNION ALL
                    SELECT date_bin('1 minute', ts, 'epoch'), {SAMPLE_PARTS}
                      FROM telemetry_samples(%(pk)s, %(inner_end)s, %(end)s) GROUP BY 1
                   ) AS parts {page}"""
    else:
        query = (f"SELECT date_bin(%(width)s::interval, ts, 'epoch') AS ts, {AGGREGATES} "
                 f"FROM telemetry_samples(%(pk)s, %(start)s, %(end)s) {page}")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


def count(conn: psycopg.Connection, *, elevator_pk: int | None = None) -> int:
    """Stored samples (of one elevator, or all)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT count(*) FROM telemetry WHERE %(pk)s::int IS NULL OR elevator_pk = %(pk)s",
            {"pk": elevator_pk}).fetchone()
        if partitions.active(conn):
            blocks = cur.execute(
                "SELECT coalesce(sum(samples), 0) FROM (SELECT elevator_pk, samples "
                "FROM telemetry_blocks "
                "UNION ALL SELECT elevator_pk, samples FROM telemetry_kept) AS b "
                "WHERE %(pk)s::int IS NULL OR elevator_pk = %(pk)s",
                {"pk": elevator_pk}).fetchone()
            return (int(row[0]) if row else 0) + (int(blocks[0]) if blocks else 0)
    return int(row[0]) if row else 0
