"""What the ingester writes: telemetry batches, latest state, connection events, rejects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
from psycopg import sql

from core.codec import Sample
from core.domain import ElevatorLimits
from storage.copybuf import COPY_COLUMNS, PG_EPOCH_US, Encoded

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_encoder = msgspec.json.Encoder()
_COPY = f"COPY {{table}} ({COPY_COLUMNS}, fault) FROM STDIN (FORMAT BINARY)"
_INSERT_FAULT_ROWS = (
    f"INSERT INTO telemetry ({COPY_COLUMNS}, fault) VALUES "
    f"({', '.join(['%s'] * (COPY_COLUMNS.count(',') + 2))}) ON CONFLICT DO NOTHING")


@dataclass(frozen=True, slots=True)
class RejectRow:
    """A refused message as the operator will read it."""

    topic: str
    elevator_id: str | None
    reason: str
    detail: str
    payload: bytes
    payload_size: int


@dataclass(frozen=True, slots=True)
class LatestState:
    """The newest sample of an elevator in a batch."""

    elevator_pk: int
    ts_us: int
    sample: Sample


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """An online/offline message from lift/{id}/state."""

    elevator_pk: int
    state: str
    ts_us: int


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=us)


SampleKey = tuple[int, int, int | None]  # (elevator_pk, ts in Unix microseconds, seq)


@dataclass(frozen=True, slots=True)
class Written:
    """What a telemetry write stored: how many rows were new, and which were not."""

    inserted: int
    duplicates: frozenset[SampleKey] = frozenset()  # samples the store already had


def write_telemetry(conn: psycopg.Connection, enc: Encoded) -> Written:
    """Store a batch (autocommit connection): the new rows, and the keys already stored.

    The fast path copies straight into telemetry, one statement, one round trip, and every
    row is new. A redelivered sample trips the unique index and nothing of the COPY stays;
    the batch then goes through a staging table with ON CONFLICT DO NOTHING, which tells
    which rows were new, so duplicates cost time only when they happen.
    """
    inserted = 0
    duplicates: set[SampleKey] = set()
    if enc.rows:
        try:  # a transaction of its own, or a savepoint in the caller's
            with conn.transaction(), conn.cursor() as cur, \
                    cur.copy(_COPY.format(table="telemetry")) as copy:
                copy.write(enc.copy_data)
            inserted = enc.rows
        except psycopg.errors.UniqueViolation:
            with conn.transaction():
                inserted = _write_deduplicated(conn, enc, duplicates)
    if enc.fault_rows:
        new: set[SampleKey] = set()  # a repeat within the batch is not "stored before"
        with conn.transaction(), conn.cursor() as cur:
            for row in enc.fault_rows:
                values = list(row)
                ts_pg_us = int(str(values[1]))
                values[1] = PG_EPOCH + timedelta(microseconds=ts_pg_us)
                seq = values[2]
                key = (int(str(values[0])), ts_pg_us + PG_EPOCH_US,
                       None if seq is None else int(str(seq)))
                cur.execute(_INSERT_FAULT_ROWS, values)
                if cur.rowcount:
                    inserted += cur.rowcount
                    new.add(key)
                elif key not in new:
                    duplicates.add(key)
    return Written(inserted, frozenset(duplicates))


def _write_deduplicated(conn: psycopg.Connection, enc: Encoded,
                        duplicates: set[SampleKey]) -> int:
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS telemetry_stage "
                    "(LIKE telemetry INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        cur.execute("TRUNCATE telemetry_stage")
        with cur.copy(_COPY.format(table="telemetry_stage")) as copy:
            copy.write(enc.copy_data)
        cur.execute("INSERT INTO telemetry SELECT * FROM telemetry_stage ON CONFLICT DO NOTHING")
        inserted = cur.rowcount
        if inserted < enc.rows:  # name the rows the store already had
            stage_us = "(extract(epoch FROM s.ts) * 1000000)::int8"
            cur.execute(
                f"SELECT s.elevator_pk, {stage_us}, s.seq FROM telemetry_stage s "
                "JOIN telemetry t ON t.elevator_pk = s.elevator_pk AND t.ts = s.ts "
                "AND t.seq IS NOT DISTINCT FROM s.seq AND t.xmin <> s.xmin")
            duplicates.update((int(r[0]), int(r[1]), r[2]) for r in cur.fetchall())
        return inserted


def write_latest(conn: psycopg.Connection, states: list[LatestState]) -> None:
    """Move each elevator's latest sample forward (never backward)."""
    if not states:
        return
    # One JSON document instead of three array parameters: psycopg dumps arrays element
    # by element in Python, msgspec encodes the whole list in C.
    doc = _encoder.encode([(s.elevator_pk, s.ts_us, s.sample) for s in states])
    conn.execute(
        """
        INSERT INTO elevator_state (elevator_pk, last_seen, data_at, last_ts, latest)
        SELECT (e->>0)::int, now(), now(),
               'epoch'::timestamptz + (e->>1)::int8 * interval '1 microsecond', e->2
          FROM jsonb_array_elements(%s::jsonb) AS e
         ORDER BY 1  -- one lock order for all writers
        ON CONFLICT (elevator_pk) DO UPDATE
           SET last_seen = excluded.last_seen,
               data_at = excluded.data_at,
               last_ts = greatest(elevator_state.last_ts, excluded.last_ts),
               latest = CASE WHEN elevator_state.last_ts IS NULL
                               OR excluded.last_ts >= elevator_state.last_ts
                             THEN excluded.latest ELSE elevator_state.latest END
        """,
        (doc.decode(),))


def write_connection_events(conn: psycopg.Connection, events: list[ConnectionEvent]) -> None:
    """Record online/offline messages and set each elevator's connection state."""
    if not events:
        return
    with conn.transaction():
        _write_connection_events(conn, events)


def _write_connection_events(conn: psycopg.Connection, events: list[ConnectionEvent]) -> None:
    for ev in sorted(events, key=lambda e: e.elevator_pk):
        ts = _ts(ev.ts_us)
        new = conn.execute(
            "INSERT INTO connection_events (elevator_pk, state, ts) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1", (ev.elevator_pk, ev.state, ts)).fetchone()
        if new is None:
            continue  # a retained state delivered again on resubscription
        # The latest state received wins: a last will carries the time the device
        # connected, not when it dropped, so device times cannot order it against data.
        conn.execute(
            """
            INSERT INTO elevator_state (elevator_pk, last_seen, connection, connection_ts,
                                        connection_at)
            VALUES (%s, now(), %s, %s, now())
            ON CONFLICT (elevator_pk) DO UPDATE
               SET last_seen = now(), connection = excluded.connection,
                   connection_ts = excluded.connection_ts, connection_at = now()
            """,
            (ev.elevator_pk, ev.state, ts))


def write_rejects(conn: psycopg.Connection, rejects: list[RejectRow]) -> None:
    """Keep refused messages where an operator can read them."""
    if not rejects:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ingest_rejects (topic, elevator_id, reason, detail, payload, "
            "payload_size) VALUES (%s, %s, %s, %s, %s, %s)",
            [(r.topic, r.elevator_id, r.reason, r.detail, r.payload, r.payload_size)
             for r in rejects])


def load_elevators(conn: psycopg.Connection, elevator_id: str | None = None, *,
                   pks: list[int] | None = None) -> dict[str, ElevatorLimits]:
    """The range-check data of every registered elevator (or of one, or of those pks)."""
    query = ("SELECT id, pk, rated_load_kg, travel_m, landings_m, "
             "decommissioned_at IS NOT NULL FROM elevators")
    params: tuple[object, ...] = ()
    if elevator_id is not None:
        query += " WHERE id = %s"
        params = (elevator_id,)
    elif pks is not None:
        query += " WHERE pk = ANY(%s)"
        params = (pks,)
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        rows = cur.execute(sql.SQL(query), params).fetchall()  # type: ignore[arg-type]
    return {r[0]: ElevatorLimits(r[1], r[2], r[3], tuple(r[4]), r[5]) for r in rows}

