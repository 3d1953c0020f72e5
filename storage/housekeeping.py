"""Retention (CONTRACT section 10): what is older than its retention goes, in batches.

- telemetry older than ``WHISTLE_TELEMETRY_RETENTION_DAYS``, on plain PostgreSQL (with
  TimescaleDB its retention policy drops whole chunks instead), except the samples from 5
  minutes before to 5 minutes after each alert of the same elevator, kept with the alert;
- rejected messages, connection events and finished webhook deliveries older than
  ``WHISTLE_LOG_RETENTION_DAYS``.

Deletes run in batches of ``BATCH`` rows, each its own short transaction, so ingest never
waits behind a long lock. One process sweeps at a time (an advisory lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

BATCH = 10_000
LOCK_KEY = 0x5748_4B50  # "WHKP"
AROUND_ALERT = timedelta(minutes=5)

TELEMETRY = """
DELETE FROM telemetry WHERE ctid = ANY(ARRAY(
    SELECT t.ctid FROM telemetry t
    WHERE t.ts < %(cutoff)s AND NOT EXISTS (
        SELECT 1 FROM alerts a WHERE a.elevator_pk = t.elevator_pk
        AND t.ts BETWEEN a.opened_at - %(around)s
                     AND coalesce(a.resolved_at, 'infinity') + %(around)s)
    LIMIT %(batch)s))"""
LOGS = {
    "ingest_rejects": "received_at < %(cutoff)s",
    "connection_events": "received_at < %(cutoff)s",
    "webhook_deliveries": "status IN ('delivered', 'failed') "
                          "AND coalesce(attempted_at, due_at) < %(cutoff)s",
}


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
          progress: Callable[[str, int], None] | None = None) -> Swept | None:
    """Apply every retention rule once; None if another process is sweeping. ``conn``
    must be in autocommit mode (each batch commits on its own)."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
        return None
    swept = Swept()
    try:
        jobs: list[tuple[str, str, datetime]] = []
        if not timescale_active(conn):
            jobs.append(("telemetry", TELEMETRY, now - timedelta(days=telemetry_days)))
        for table, where in LOGS.items():
            jobs.append((table, f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                                f"SELECT ctid FROM {table} WHERE {where} LIMIT %(batch)s))",
                         now - timedelta(days=log_days)))
        for table, statement, cutoff in jobs:
            swept.rows[table] = 0
            while True:
                n = conn.execute(statement, {"cutoff": cutoff, "around": AROUND_ALERT,
                                             "batch": BATCH}).rowcount
                swept.rows[table] += n
                if progress is not None:
                    progress(table, n)
                if n < BATCH:
                    break
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return swept
