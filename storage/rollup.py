"""The per-minute rollup of telemetry (plain PostgreSQL, migration 0012), maintained
incrementally and never recomputed on a query.

``telemetry_rollup_mark.minute`` says up to where the closed minutes are rolled up.
:func:`advance` (the running service every ROLL_EVERY_S, and every sweep) aggregates the
raw rows of the minutes between the mark and a minute ago and moves the mark, in one
transaction, under an exclusive advisory lock. The ingest statement's trigger adds the
few samples that arrive late, for minutes before the mark, under the same lock shared:

- a statement whose trigger ran before advance took the lock has committed before
  advance reads the raw rows (the lock waits for it), so advance counts its rows, and the
  trigger did not (they were not before the old mark);
- a statement whose trigger runs after sees the new mark and counts its late rows itself,
  and advance did not see them (not committed when it read).

So every sample is counted once, and the per-sample ingest cost stays a scan of the
statement's own rows. The raw path is used for minutes after the mark (storage.telemetry).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from storage import partitions

LOCK_KEY = 0x5748_524C  # "WHRL": the trigger takes it shared, advance exclusive
ROLLER_KEY = 0x5748_5252  # "WHRR": one process advances at a time
LAG = timedelta(seconds=5)  # a minute is closed this long after its end
STEP = timedelta(minutes=10)  # catching up: at most this much data per transaction
ROLL_EVERY_S = 15.0
MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_minute(t: datetime) -> datetime:
    return t - (t - EPOCH) % MINUTE


def mark(conn: psycopg.Connection[Any]) -> datetime | None:
    """Minutes before this are in the rollup (None: none are)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT minute FROM telemetry_rollup_mark").fetchone()
    return row[0] if row else None


def advance(conn: psycopg.Connection[Any], *, now: datetime) -> int:
    """Roll up the closed minutes not rolled up yet; the number of per-minute rows
    written (0 also when another process is at it). ``conn`` in autocommit mode."""
    if not partitions.active(conn):
        return 0
    until = floor_minute(now - LAG)
    written = 0
    with conn.cursor(row_factory=tuple_row) as cur:
        while True:
            with conn.transaction():
                if not cur.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                   (ROLLER_KEY,)).fetchone()[0]:  # type: ignore[index]
                    return written
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                # A statement of its own after the lock: its snapshot sees every ingest
                # statement that read the old mark.
                lo = mark(conn)
                if lo is None:
                    first = cur.execute("SELECT min(ts) FROM telemetry").fetchone()
                    lo = floor_minute(first[0]) if first and first[0] else until
                if lo >= until:
                    _set_mark(cur, max(lo, until))
                    return written
                hi = min(lo + STEP, until)
                row = cur.execute("SELECT telemetry_roll_up_range(%s, %s)", (lo, hi)).fetchone()
                n = int(row[0]) if row else 0
                if n == 0 and hi < until:  # a gap while catching up: jump to the next row
                    nxt = cur.execute("SELECT min(ts) FROM telemetry WHERE ts >= %s AND ts < %s",
                                      (hi, until)).fetchone()
                    hi = floor_minute(nxt[0]) if nxt and nxt[0] else until
                written += n
                _set_mark(cur, hi)


def _set_mark(cur: psycopg.Cursor[Any], minute: datetime) -> None:
    cur.execute("INSERT INTO telemetry_rollup_mark (one, minute) VALUES (true, %s) "
                "ON CONFLICT (one) DO UPDATE SET minute = excluded.minute "
                "WHERE telemetry_rollup_mark.minute IS DISTINCT FROM excluded.minute",
                (minute,))
