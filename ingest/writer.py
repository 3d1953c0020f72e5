"""Writing a prepared batch: telemetry, rejects, connection events and the latest state,
durable before anything is acknowledged; retried while PostgreSQL is away; a batch the
database refuses is retried message by message so only the message at fault is rejected."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import psycopg
import structlog

from core.codec import Reject, Telemetry
from core.stream import Committed
from ingest import metrics
from ingest.prepare import Prepared
from messaging.subscriber import Inbound
from storage import feed
from storage import intake as store
from storage.db import connect
from storage.intake import SampleKey

__all__ = ["DbStatus", "Writer"]

log = structlog.get_logger(__name__)

RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
LATEST_EVERY_S = 1.0  # each elevator's latest sample is written at most this often


class DbStatus:
    """Whether the database answered the last write, shared by the write threads so that
    each change is said once."""

    def __init__(self) -> None:
        self.up = False


class Writer:
    """A write thread's side of the pipeline (one connection, autocommit)."""

    def __init__(self, url: str, *, prepare: Callable[[list[Inbound]], Prepared],
                 stopping: Callable[[], bool], feed: bool = False,
                 status: DbStatus | None = None) -> None:
        self.url = url
        self.feed = feed  # append what was new to the rules feed, in the same transaction
        self._prepare = prepare
        self._stopping = stopping
        self._conn: psycopg.Connection | None = None
        self._latest: dict[int, store.LatestState] = {}
        self._latest_written = 0.0
        self.status = status or DbStatus()
        self.batches = 0  # written by this writer (tests, operators)

    @property
    def db_up(self) -> bool:
        """True while the last write reached the database."""
        return self.status.up

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def down(self, exc: Exception, *, drop_connection: bool = True) -> None:
        """The database is unreachable: count it, say it once, forget the connection."""
        metrics.DB_ERRORS.inc()
        if self.status.up:
            log.error("database unreachable; holding messages unacknowledged", error=str(exc))
        self.status.up = False
        metrics.DB_UP.set(0)
        if drop_connection:
            self.close()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, autocommit=True)  # see write()
        return self._conn

    def write_until_done(self, items: list[Inbound], p: Prepared,
                         turn: Callable[[], None] = lambda: None) -> list[Committed] | None:
        """Store a batch, retrying while the database is unreachable; what was committed
        (new samples and states, for the rules), or None if given up. ``turn`` returns
        when the batch may append to the rules feed (the batches before it are in)."""
        delay = RETRY_MIN_S
        while True:
            try:
                stored = [self.write(p, turn)]
                if not self.status.up:
                    log.info("database reachable; writing")
                self.status.up = True
                metrics.DB_UP.set(1)
                return stored
            except psycopg.OperationalError as exc:
                self.down(exc)
            except Exception:
                if self._conn is not None and self._conn.closed:
                    self.down(RuntimeError("connection closed"))
                else:  # the data, not the connection: isolate the message at fault
                    log.exception("batch failed; storing its messages one by one")
                    self._rollback()
                    return self._write_one_by_one(items, turn)
            if self._stopping() and delay >= RETRY_MAX_S:
                log.error("stopping with unwritten messages; the broker will redeliver them",
                          messages=len(items))
                return None
            time.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    def _rollback(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()

    def _write_one_by_one(self, items: list[Inbound], turn: Callable[[], None]
                          ) -> list[Committed]:
        stored = []
        for item in items:
            try:
                stored.append(self.write(self._prepare([item]), turn))
            except psycopg.OperationalError:
                raise
            except Exception as exc:
                self._rollback()
                reason = "storage_error" if isinstance(exc, psycopg.Error) else "internal_error"
                rej = Reject(reason, f"the message could not be stored: {exc}")
                self.write(self._prepare([Inbound(
                    mid=item.mid, qos=item.qos, generation=item.generation, topic=item.topic,
                    elevator_id=item.elevator_id, size=item.size, reject=rej,
                    payload=item.payload)]), turn)
        return stored

    def flush_latest(self) -> None:
        """Write the latest states still held (when quiet, and at stop)."""
        if not self._latest:
            return
        try:
            self._write_latest(self._connection(), [], force=True)
        except psycopg.Error as exc:
            log.warning("latest state not written", error=str(exc))

    def _write_latest(self, conn: psycopg.Connection, latest: list[store.LatestState],
                      *, force: bool = False) -> None:
        """Keep each elevator's latest sample, written at most once a second.

        The latest state feeds `last_seen` and the dashboards, not the exactly-once
        guarantee, so it need not cost a round trip per batch.
        """
        for state in latest:
            prev = self._latest.get(state.elevator_pk)
            if prev is None or state.ts_us >= prev.ts_us:
                self._latest[state.elevator_pk] = state
        now = time.monotonic()
        if self._latest and (force or now - self._latest_written >= LATEST_EVERY_S):
            store.write_latest(conn, list(self._latest.values()))
            self._latest.clear()
            self._latest_written = now

    def write(self, p: Prepared, turn: Callable[[], None] = lambda: None) -> Committed:
        """Write one prepared batch; what it committed that was new (for the rules).

        Telemetry and rejects are durable before this returns (and so before any ack);
        each statement commits on its own, because a retry after a failure half-way is
        harmless: samples already stored are skipped as duplicates."""
        conn = self._connection()
        started = time.perf_counter()
        with conn.transaction() if self.feed else contextlib.nullcontext():
            written = store.write_telemetry(conn, p.encoded) if p.encoded is not None else None
            inserted = written.inserted if written is not None else 0
            store.write_connection_events(conn, p.events)
            committed = self._committed(p, written)
            if self.feed:  # the owner of each partition reads it (storage/feed.py)
                turn()  # in batch order: a partition's feed is in the order of its samples
                every_new = written is not None and inserted == len(p.batch)
                feed.append(conn, committed, p.encoded if every_new else None)
        store.write_rejects(conn, p.rejects)
        self._write_latest(conn, p.latest)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCHES.inc()
        self.batches += 1
        metrics.SAMPLES.inc(inserted)
        metrics.DUPLICATES.inc(len(p.batch) - inserted)
        metrics.MESSAGES.labels("telemetry").inc(len(p.accepted))
        metrics.MESSAGES.labels("state").inc(len(p.events))
        for r in p.rejects:
            metrics.REJECTED.labels(r.reason).inc()
        for reason in p.unstored_rejects:
            metrics.REJECTED.labels(reason).inc()
            metrics.REJECTS_NOT_STORED.labels(reason).inc()
        if p.rejects:
            log.info("messages rejected", count=len(p.rejects),
                     first=f"{p.rejects[0].topic}: {p.rejects[0].reason}: {p.rejects[0].detail}")
        return committed

    @staticmethod
    def _committed(p: Prepared, written: store.Written | None) -> Committed:
        accepted = p.accepted
        if written is not None and written.inserted < len(p.batch):
            # something was a duplicate: hand over each sample once
            accepted = _new_only(accepted, written.duplicates)
        return Committed(accepted, p.states)


def _new_only(accepted: list[tuple[str, int, Telemetry]], stored_before: frozenset[SampleKey]
              ) -> list[tuple[str, int, Telemetry]]:
    """The samples of accepted messages that the store did not already have, each once."""
    seen = set(stored_before)
    out = []
    for eid, pk, msg in accepted:
        keep = []
        for s, t in zip(msg.samples, msg.ts_us, strict=True):
            key = (pk, t, s.seq)
            if key not in seen:
                seen.add(key)
                keep.append((s, t))
        if len(keep) == len(msg.samples):
            out.append((eid, pk, msg))
        elif keep:
            out.append((eid, pk, Telemetry([s for s, _ in keep], [t for _, t in keep])))
    return out
