"""Time partitions of telemetry, its compacted blocks and its per-minute rollup (plain
PostgreSQL; migration 0012).

Each family is a table partitioned by range on a time column, with a default partition
that catches whatever arrives for a range without its own partition (nothing is ever
refused for lack of a partition). ``whistle_partition`` (SQL, migration 0012) creates a
partition once, moving over the rows its default partition already holds for the range.
Partitions are named after their range, so their bounds are known without asking the
catalogue: telemetry_p20261203 is the UTC day 2026-12-03, telemetry_minutes_p202612 the
UTC month of December 2026.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from psycopg.rows import tuple_row

log = structlog.get_logger(__name__)

AHEAD_DAYS = 3  # raw partitions exist this many days ahead of today
LOCK_TIMEOUT = "5s"  # DDL never queues the writers behind it for longer


@dataclass(frozen=True)
class Family:
    """A partitioned table: its name, the time column it is partitioned on, the period."""

    parent: str
    key: str
    monthly: bool = False

    @property
    def default(self) -> str:
        return f"{self.parent}_default"

    def period(self, at: datetime) -> tuple[datetime, datetime, str]:
        """(start, end, partition name) of the period containing ``at``."""
        at = at.astimezone(UTC)
        if self.monthly:
            lo = datetime(at.year, at.month, 1, tzinfo=UTC)
            hi = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
            return lo, hi, f"{self.parent}_p{lo:%Y%m}"
        lo = datetime(at.year, at.month, at.day, tzinfo=UTC)
        return lo, lo + timedelta(days=1), f"{self.parent}_p{lo:%Y%m%d}"

    def bounds(self, name: str) -> tuple[datetime, datetime] | None:
        """The range of a partition of this family from its name (None: not one of ours)."""
        prefix = f"{self.parent}_p"
        suffix = name[len(prefix):]
        if not name.startswith(prefix) or not suffix.isdigit():
            return None
        try:
            at = datetime.strptime(suffix, "%Y%m" if self.monthly else "%Y%m%d")
        except ValueError:
            return None
        lo, hi, _ = self.period(at.replace(tzinfo=UTC))
        return lo, hi


RAW = Family("telemetry", "ts")
BLOCKS = Family("telemetry_blocks", "hour")
MINUTES = Family("telemetry_minutes", "minute", monthly=True)


def active(conn: psycopg.Connection[Any]) -> bool:
    """Whether this database keeps telemetry in Whistle's own partitions (not TimescaleDB)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT to_regclass('telemetry_blocks') IS NOT NULL").fetchone()
    return bool(row and row[0])


def ensure(conn: psycopg.Connection[Any], family: Family, at: datetime) -> bool:
    """Create the partition of ``family`` holding ``at`` unless it exists (True: created)."""
    lo, hi, name = family.period(at)
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        row = conn.execute("SELECT whistle_partition(%s, %s, %s, %s, %s)",
                           (family.parent, family.key, lo, hi, name)).fetchone()
    return bool(row and row[0])


def ensure_ahead(conn: psycopg.Connection[Any], now: datetime) -> list[str]:
    """The raw partitions of today and the next AHEAD_DAYS days, the rollup's partitions of
    this month and the next; the names of those created now."""
    if not active(conn):
        return []
    wanted = [(RAW, now + timedelta(days=d)) for d in range(AHEAD_DAYS + 1)]
    wanted += [(MINUTES, now), (MINUTES, MINUTES.period(now)[1])]
    created = []
    for family, at in wanted:
        try:
            if ensure(conn, family, at):
                created.append(family.period(at)[2])
        except psycopg.errors.LockNotAvailable:
            # Busy writers: the default partition keeps every sample until the next try.
            log.warning("partition not created yet: table busy", partition=family.period(at)[2])
    return created


def partitions(conn: psycopg.Connection[Any], family: Family
               ) -> list[tuple[str, datetime, datetime]]:
    """(name, start, end) of every named partition of the family, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass", (family.parent,)).fetchall()
    found = []
    for (name,) in rows:
        bounds = family.bounds(name)
        if bounds is not None:
            found.append((name, *bounds))
    return sorted(found, key=lambda p: p[1])


def drop(conn: psycopg.Connection[Any], name: str) -> None:
    """Drop one partition (inside the caller's transaction, waiting at most LOCK_TIMEOUT)."""
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.execute(f'DROP TABLE "{name}"')
