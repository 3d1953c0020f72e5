"""The writer side of the ingester: batch, store, commit, then acknowledge.

One thread owns the database connection. It takes whatever the MQTT thread has handed
over (up to a batch size; a batch is never older than the flush deadline because the
writer takes what is there as soon as the previous commit is done), validates it against
the registry, writes it in one transaction, and only then acknowledges the messages. If
PostgreSQL is unreachable it keeps the batch, retries with backoff and acknowledges
nothing; the broker stops sending once the Receive Maximum of unacknowledged messages is
reached, and a byte budget bounds memory for large messages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import psycopg
import structlog

from ingest import metrics
from storage import ingest as store
from storage.copybuf import Batch, encode
from storage.db import connect
from whistle.codec import (
    REJECT_PAYLOAD_BYTES,
    Reject,
    RejectReason,
    Sample,
    Telemetry,
    check_limits,
)
from whistle.domain import ElevatorLimits
from whistle.mqtt import Inbound
from whistle.settings import Settings
from whistle.stream import Committed

log = structlog.get_logger(__name__)

RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
REGISTRY_REFRESH_S = 60.0
UNKNOWN_RETRY_S = 5.0  # how long an unregistered id is remembered before asking again
IDLE_WAIT_S = 0.5


@dataclass
class _Prepared:
    batch: Batch = field(default_factory=Batch)
    latest: list[store.LatestState] = field(default_factory=list)
    events: list[store.ConnectionEvent] = field(default_factory=list)
    rejects: list[store.RejectRow] = field(default_factory=list)
    accepted: list[tuple[str, int, Telemetry]] = field(default_factory=list)
    states: list[tuple[str, int, str, int]] = field(default_factory=list)


def _reject_row(item: Inbound, rej: Reject) -> store.RejectRow:
    return store.RejectRow(item.topic, item.elevator_id, rej.reason, rej.detail,
                           item.payload[:REJECT_PAYLOAD_BYTES], item.size)


class Pipeline:
    """Batches handed-over messages into PostgreSQL and acknowledges them after commit."""

    def __init__(self, settings: Settings, *, ack: Callable[[list[Inbound]], int],
                 on_commit: Callable[[Committed], None] | None = None) -> None:
        self.settings = settings
        self._ack = ack
        self._on_commit = on_commit
        self._items: deque[Inbound] = deque()
        self._cond = threading.Condition()
        self._writer_waiting = False
        self._pending_bytes = 0
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._elevators: dict[str, ElevatorLimits] = {}
        self._unknown: dict[str, float] = {}
        self._registry_loaded = 0.0
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self.committed_messages = 0
        self.db_up = False

    # --- MQTT thread --------------------------------------------------------------------
    def handoff(self, item: Inbound) -> None:
        """Queue a decoded message; blocks only when the byte budget is exhausted."""
        with self._cond:
            while (self._pending_bytes > self.settings.ingest_max_pending_bytes
                   and not self._stop.is_set()):
                self._cond.wait(IDLE_WAIT_S)
            self._items.append(item)
            self._pending_bytes += item.size
            if self._writer_waiting:
                self._cond.notify_all()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what has arrived (best effort within timeout), then stop."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._conn is not None:
            self._conn.close()

    @property
    def pending(self) -> int:
        """Messages received and not yet committed."""
        return len(self._items)

    # --- writer thread ------------------------------------------------------------------
    def _take(self) -> list[Inbound]:
        limit = self.settings.ingest_batch_samples
        with self._cond:
            while not self._items and not self._stop.is_set():
                self._writer_waiting = True
                self._cond.wait(IDLE_WAIT_S)
                self._writer_waiting = False
            out: list[Inbound] = []
            n = 0
            items = self._items
            while items and n < limit:
                item = items.popleft()
                out.append(item)
                n += item.samples or 1
            return out

    def _release(self, items: list[Inbound]) -> None:
        with self._cond:
            self._pending_bytes -= sum(i.size for i in items)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            items = self._take()
            if not items:
                if self._stop.is_set():
                    return
                continue
            metrics.PENDING.set(len(self._items) + len(items))
            self._store_until_done(items)
            self._ack(items)
            self._release(items)
            self.committed_messages += len(items)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            assert self.settings.database_url is not None
            self._conn = connect(self.settings.database_url, autocommit=True)  # see _store
            self._elevators = {}
            self._registry_loaded = 0.0
        return self._conn

    def _store_until_done(self, items: list[Inbound]) -> None:
        """Store items, retrying while the database is unreachable (nothing acked meanwhile)."""
        delay = RETRY_MIN_S
        while True:
            try:
                self._store(items)
                if not self.db_up:
                    log.info("database reachable; writing")
                self.db_up = True
                metrics.DB_UP.set(1)
                return
            except psycopg.OperationalError as exc:
                self._down(exc)
            except Exception as exc:
                if self._conn is not None and self._conn.closed:
                    self._down(exc)
                else:  # the data, not the connection: isolate the message at fault
                    log.exception("batch failed; storing its messages one by one")
                    self._rollback()
                    self._store_one_by_one(items)
                    return
            if self._stop.is_set() and delay >= RETRY_MAX_S:
                log.error("stopping with unwritten messages; the broker will redeliver them",
                          messages=len(items))
                return
            time.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    def _down(self, exc: Exception) -> None:
        metrics.DB_ERRORS.inc()
        if self.db_up:
            log.error("database unreachable; holding messages unacknowledged", error=str(exc))
        self.db_up = False
        metrics.DB_UP.set(0)
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _rollback(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()

    def _store_one_by_one(self, items: list[Inbound]) -> None:
        for item in items:
            try:
                self._store([item])
            except psycopg.OperationalError:
                raise
            except Exception as exc:
                self._rollback()
                reason = "storage_error" if isinstance(exc, psycopg.Error) else "internal_error"
                rej = Reject(reason, f"the message could not be stored: {exc}")
                self._store([Inbound(item.mid, item.qos, item.generation, item.topic,
                                     item.elevator_id, item.size, reject=rej,
                                     payload=item.payload)])

    def _refresh_registry(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        if now - self._registry_loaded > REGISTRY_REFRESH_S:
            self._elevators = store.load_elevators(conn)
            self._unknown.clear()
            self._registry_loaded = now

    def _lookup_missing(self, conn: psycopg.Connection, elevator_id: str
                        ) -> ElevatorLimits | None:
        """Ask the database about an id not in the cache (registered since the last load?)."""
        now = time.monotonic()
        if now - self._unknown.get(elevator_id, -UNKNOWN_RETRY_S) < UNKNOWN_RETRY_S:
            return None
        found = store.load_elevators(conn, elevator_id).get(elevator_id)
        if found is None:
            self._unknown[elevator_id] = now
        else:
            self._elevators[elevator_id] = found
        return found

    def _prepare(self, conn: psycopg.Connection, items: list[Inbound]) -> _Prepared:
        """Sort a batch into samples to copy, connection events and rejects (hot loop)."""
        self._refresh_registry(conn)
        p = _Prepared()
        elevators = self._elevators
        add = p.batch.add
        accepted = p.accepted
        newest: dict[int, tuple[int, Sample]] = {}
        for item in items:
            if item.reject is not None:
                p.rejects.append(_reject_row(item, item.reject))
                continue
            eid = item.elevator_id
            msg = item.telemetry
            if eid is None or (msg is None and item.state is None):
                continue  # a cleared retained state: nothing to store
            limits = elevators.get(eid) or self._lookup_missing(conn, eid)
            if limits is None:
                p.rejects.append(_reject_row(item, Reject(
                    RejectReason.UNREGISTERED_ELEVATOR, f"elevator {eid!r} is not registered")))
                continue
            pk = limits.pk
            if msg is None:
                assert item.state is not None
                p.events.append(store.ConnectionEvent(pk, *item.state))
                p.states.append((eid, pk, *item.state))
                continue
            try:
                check_limits(msg, limits)
            except Reject as rej:
                p.rejects.append(_reject_row(item, rej))
                continue
            add(pk, msg)
            accepted.append((eid, pk, msg))
            ts = msg.ts_us
            i = len(ts) - 1
            if i and ts[i] < ts[0]:
                i = ts.index(max(ts))
            prev = newest.get(pk)
            if prev is None or ts[i] >= prev[0]:
                newest[pk] = (ts[i], msg.samples[i])
        for pk, (ts_us, sample) in newest.items():
            if sample.accel is not None:  # the window is large and only the rules need it
                sample = msgspec.structs.replace(sample, accel=None)
            p.latest.append(store.LatestState(pk, ts_us, sample))
        return p

    def _store(self, items: list[Inbound]) -> None:
        """Write one batch. Telemetry and rejects are durable before this returns (and so
        before any ack); each statement commits on its own, because a retry after a
        failure half-way is harmless: samples already stored are skipped as duplicates."""
        conn = self._connection()
        started = time.perf_counter()
        p = self._prepare(conn, items)
        inserted = store.write_telemetry(conn, encode(p.batch)) if len(p.batch) else 0
        store.write_rejects(conn, p.rejects)
        store.write_connection_events(conn, p.events)
        store.write_latest(conn, p.latest)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCHES.inc()
        metrics.SAMPLES.inc(inserted)
        metrics.DUPLICATES.inc(len(p.batch) - inserted)
        metrics.MESSAGES.labels("telemetry").inc(len(p.accepted))
        metrics.MESSAGES.labels("state").inc(len(p.events))
        for r in p.rejects:
            metrics.REJECTED.labels(r.reason).inc()
        if p.rejects:
            log.info("messages rejected", count=len(p.rejects),
                     first=f"{p.rejects[0].topic}: {p.rejects[0].reason}: {p.rejects[0].detail}")
        if self._on_commit is not None and (p.accepted or p.states):
            self._on_commit(Committed(p.accepted, p.states))
