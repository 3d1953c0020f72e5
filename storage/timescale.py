"""Everything TimescaleDB-specific, behind one check: is the extension installed?

On plain PostgreSQL, migration 0001 gives telemetry a BRIN index on time next to the
unique (elevator, ts, seq) index, and migration 0012 turns it into Whistle's own daily
partitions, compacted blocks and per-minute rollup (storage.partitions, storage.compaction,
storage.rollup). With TimescaleDB, the same table becomes a hypertable with compression, a
retention policy and a per-minute continuous aggregate, and migration 0012 leaves it so.
CI and the tests exercise the plain path; this machine cannot install TimescaleDB.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Executor(Protocol):
    def exec_driver_sql(self, statement: str, /) -> Any: ...


# TimescaleDB's per-minute continuous aggregate (plain PostgreSQL has telemetry_minutes).
AGGREGATE_1M = "telemetry_1m"


def available(conn: _Executor) -> bool:
    """True if the timescaledb extension can be (or is) installed in this database."""
    row = conn.exec_driver_sql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return bool(row and row[0])


def setup_telemetry(conn: _Executor) -> None:
    """Give the freshly created telemetry table its storage layout (migration 0001)."""
    if not available(conn):
        conn.exec_driver_sql(
            "CREATE INDEX telemetry_ts_brin ON telemetry USING brin (ts) "
            "WITH (pages_per_range = 32)")
        return
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS timescaledb")
    conn.exec_driver_sql(
        "SELECT create_hypertable('telemetry', by_range('ts', INTERVAL '1 day'))")
    conn.exec_driver_sql(
        "ALTER TABLE telemetry SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'elevator_pk', "
        "timescaledb.compress_orderby = 'ts DESC')")
    conn.exec_driver_sql(
        "SELECT add_compression_policy('telemetry', INTERVAL '7 days')")
    conn.exec_driver_sql(
        "SELECT add_retention_policy('telemetry', INTERVAL '365 days')")
    conn.exec_driver_sql(f"""
        CREATE MATERIALIZED VIEW {AGGREGATE_1M} WITH (timescaledb.continuous) AS
        SELECT elevator_pk, time_bucket(INTERVAL '1 minute', ts) AS bucket,
               count(*) AS samples,
               avg(speed_mps) AS speed_avg, max(abs(speed_mps)) AS speed_max,
               avg(pos_m) AS pos_avg, min(pos_m) AS pos_min, max(pos_m) AS pos_max,
               avg(load_kg) AS load_avg, max(load_kg) AS load_max,
               avg(motor_temp_c) AS temp_avg, max(motor_temp_c) AS temp_max,
               avg(vib_rms) AS vib_avg, max(vib_rms) AS vib_max,
               avg(level_mm) AS level_avg, max(abs(level_mm)) AS level_max
          FROM telemetry GROUP BY elevator_pk, bucket WITH NO DATA""")
    conn.exec_driver_sql(
        f"SELECT add_continuous_aggregate_policy('{AGGREGATE_1M}', "
        "start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute', "
        "schedule_interval => INTERVAL '1 minute')")


def installed(cursor: Any) -> bool:
    """True if this database runs telemetry on TimescaleDB (a psycopg cursor or connection)."""
    row = cursor.execute(
        "SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row is None:
        return False
    return bool(row["n"] if isinstance(row, dict) else row[0])


def apply_retention(cursor: Any, days: int) -> None:
    """Set the telemetry retention policy to the configured number of days (TimescaleDB)."""
    if not installed(cursor):
        return
    cursor.execute("SELECT remove_retention_policy('telemetry', if_exists => true)")
    cursor.execute(
        "SELECT add_retention_policy('telemetry', make_interval(days => %s))", (days,))
