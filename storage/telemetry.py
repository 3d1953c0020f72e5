"""Reading telemetry back: raw samples or per-bucket aggregates, on either storage layout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from storage import timescale

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


def raw(conn: psycopg.Connection, *, elevator_pk: int, start: datetime, end: datetime,
        limit: int, offset: int = 0) -> list[Row]:
    """Samples in [start, end), oldest first, at most limit after skipping offset."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {SAMPLE_COLUMNS} FROM telemetry "
            "WHERE elevator_pk = %s AND ts >= %s AND ts < %s ORDER BY ts, seq "
            "LIMIT %s OFFSET %s",
            (elevator_pk, start, end, limit, offset)).fetchall()


def buckets(conn: psycopg.Connection, *, elevator_pk: int, start: datetime, end: datetime,
            bucket_s: int, limit: int | None = None, offset: int = 0) -> list[Row]:
    """Aggregates per time bucket of bucket_s seconds in [start, end), oldest first (at
    most limit buckets after skipping offset).

    With TimescaleDB and whole-minute buckets the per-minute continuous aggregate is
    rolled up; otherwise the raw rows are grouped (date_bin exists in both).
    """
    params = {"pk": elevator_pk, "start": start, "end": end, "width": f"{bucket_s} seconds",
              "limit": limit, "offset": offset}
    if bucket_s % 60 == 0 and timescale.installed(conn):
        query = (f"SELECT date_bin(%(width)s::interval, bucket, 'epoch') AS ts, {ROLLUP} "
                 f"FROM {timescale.AGGREGATE_1M} WHERE elevator_pk = %(pk)s "
                 "AND bucket >= %(start)s AND bucket < %(end)s GROUP BY 1 ORDER BY 1 "
                 "LIMIT %(limit)s OFFSET %(offset)s")
    else:
        query = (f"SELECT date_bin(%(width)s::interval, ts, 'epoch') AS ts, {AGGREGATES} "
                 "FROM telemetry WHERE elevator_pk = %(pk)s "
                 "AND ts >= %(start)s AND ts < %(end)s GROUP BY 1 ORDER BY 1 "
                 "LIMIT %(limit)s OFFSET %(offset)s")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


def count(conn: psycopg.Connection, *, elevator_pk: int | None = None) -> int:
    """Stored samples (of one elevator, or all)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT count(*) FROM telemetry WHERE %(pk)s::int IS NULL OR elevator_pk = %(pk)s",
            {"pk": elevator_pk}).fetchone()
    return int(row[0]) if row else 0
