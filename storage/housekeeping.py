"""Retention (CONTRACT section 10): what is older than its retention goes, in batches.

- on plain PostgreSQL (storage.compaction, storage.partitions): the raw partitions of
  the next days are created, samples older than a day are compacted, partitions older than
  ``WHISTLE_TELEMETRY_RETENTION_DAYS`` are dropped once the samples from 5 minutes before
  to 5 minutes after each alert of the same elevator are kept with the alert, and rollup
  partitions older than ``WHISTLE_ROLLUP_RETENTION_DAYS`` go (with TimescaleDB its own
  policies do all this instead);
- rejected messages, connection events and finished webhook deliveries older than
  ``WHISTLE_LOG_RETENTION_DAYS``.

Log deletes run in batches of ``BATCH`` rows, each its own short transaction, so ingest never
waits behind a long lock. One process sweeps at a time (an advisory lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from storage import compaction, partitions, rollup

BATCH = 10_000
LOCK_KEY = 0x5748_4B50  # "WHKP"

LOGS = {
    "ingest_rejects": "received_at < %(cutoff)s",
    "connection_events": "received_at < %(cutoff)s",
    "webhook_deliveries": "status IN ('delivered', 'failed') "
                          "AND coalesce(attempted_at, due_at) < %(cutoff)s",
}

# What the counts of Swept.rows are, where they are not rows deleted from that table.
UNITS = {"telemetry": "samples deleted", "telemetry_compacted": "samples compacted",
         "telemetry_partitions": "partitions dropped",
         "telemetry_partitions_created": "partitions created ahead",
         "telemetry_minutes_rolled_up": "per-minute rows written",
         "telemetry_minutes": "per-minute rows deleted"}


@dataclass
class Swept:
    """Rows deleted, per table."""

    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def timescale_active(conn: psycopg.Connection) -> bool:
    """Whether telemetry is kept by TimescaleDB (its retention policy applies there)."""
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
                        ).fetchone() is not None


def sweep(conn: psycopg.Connection, *, now: datetime, telemetry_days: int, log_days: int,
          rollup_days: int = 3650,
          progress: Callable[[str, int], None] | None = None) -> Swept | None:
    """Apply every retention rule once; None if another process is sweeping. ``conn``
    must be in autocommit mode (each batch commits on its own)."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
        return None
    swept = Swept()
    try:
        if not timescale_active(conn) and partitions.active(conn):
            swept.rows["telemetry_partitions_created"] = len(partitions.ensure_ahead(conn, now))
            swept.rows["telemetry_minutes_rolled_up"] = rollup.advance(conn, now=now)
            swept.rows["telemetry_compacted"] = compaction.compact(conn, now=now,
                                                                   progress=progress)
            swept.rows.update(compaction.expire(
                conn, now=now, telemetry_days=telemetry_days, rollup_days=rollup_days,
                progress=progress))
        jobs: list[tuple[str, str, datetime]] = []
        for table, where in LOGS.items():
            jobs.append((table, f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                                f"SELECT ctid FROM {table} WHERE {where} LIMIT %(batch)s))",
                         now - timedelta(days=log_days)))
        for table, statement, cutoff in jobs:
            swept.rows[table] = 0
            while True:
                n = conn.execute(statement, {"cutoff": cutoff, "batch": BATCH}).rowcount
                swept.rows[table] += n
                if progress is not None:
                    progress(table, n)
                if n < BATCH:
                    break
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return swept
