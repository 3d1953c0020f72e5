"""The writer side of the ingester: batch, store, commit, then acknowledge.

Two threads form a pipeline, so that PostgreSQL writes one batch while Python prepares
the next. The *prepare* thread takes whatever the MQTT thread has handed over (up to a
batch size; a batch is never older than the flush deadline because it takes what is there
as soon as the previous batch moved on), checks it against the registry and lays it out
as binary COPY data. The *write* thread stores it, commits, and only then acknowledges
the messages, in the order they arrived. If PostgreSQL is unreachable the write thread
keeps its batch, retries with backoff and acknowledges nothing; the prepare thread stops
at the two-batch hand-over queue, the broker stops sending once the Receive Maximum of
unacknowledged messages is reached, and a byte budget bounds memory for large messages.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import psycopg
import structlog

from core.accept import accept
from core.codec import REJECT_PAYLOAD_BYTES, Reject, Sample, Telemetry
from core.settings import Settings
from core.stream import Committed
from ingest import metrics
from ingest.registry import Registry
from messaging.subscriber import Inbound
from storage import intake as store
from storage.copybuf import Batch, Encoded, encode
from storage.db import connect
from storage.intake import SampleKey

log = structlog.get_logger(__name__)

RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
IDLE_WAIT_S = 0.5
HANDOVER_DEPTH = 2  # prepared batches waiting for the write thread
LINGER_GAP_S = 0.002  # a batch stops filling when nothing arrived for this long
LATEST_EVERY_S = 1.0  # each elevator's latest sample is written at most this often


@dataclass
class _Prepared:
    batch: Batch = field(default_factory=Batch)
    latest: list[store.LatestState] = field(default_factory=list)
    events: list[store.ConnectionEvent] = field(default_factory=list)
    rejects: list[store.RejectRow] = field(default_factory=list)
    accepted: list[tuple[str, int, Telemetry]] = field(default_factory=list)
    states: list[tuple[str, int, str, int]] = field(default_factory=list)
    encoded: Encoded | None = None


def _reject_row(item: Inbound, rej: Reject) -> store.RejectRow:
    return store.RejectRow(item.topic, item.elevator_id, rej.reason, rej.detail,
                           item.payload[:REJECT_PAYLOAD_BYTES], item.size)


class Pipeline:
    """Batches handed-over messages into PostgreSQL and acknowledges them after commit."""

    def __init__(self, settings: Settings, *, ack: Callable[[list[Inbound]], int],
                 on_commit: Callable[[Committed], None] | None = None) -> None:
        assert settings.database_url is not None
        self.settings = settings
        self._ack = ack
        self._on_commit = on_commit
        self._items: deque[Inbound] = deque()
        self._cond = threading.Condition()
        self._taker_waiting = False
        self._pending_bytes = 0
        self._pending_samples = 0
        self._latest: dict[int, store.LatestState] = {}
        self._latest_written = 0.0
        self._stop = threading.Event()
        self._ready: queue.Queue[tuple[list[Inbound], _Prepared] | None] = queue.Queue(
            HANDOVER_DEPTH)
        self._registry = Registry(settings.database_url)
        self._conn: psycopg.Connection | None = None
        self._preparer = threading.Thread(target=self._run_prepare, name="ingest-prepare",
                                          daemon=True)
        self._writer = threading.Thread(target=self._run_write, name="ingest-writer",
                                        daemon=True)
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
            self._pending_samples += item.samples or 1
            if self._taker_waiting:
                self._cond.notify_all()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the prepare and write threads."""
        self._preparer.start()
        self._writer.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what has arrived (best effort within timeout), then stop."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._preparer.join(timeout)
        self._writer.join(timeout)
        self._registry.close()
        if self._conn is not None:
            self._conn.close()

    @property
    def pending(self) -> int:
        """Messages received and not yet committed."""
        return len(self._items)

    # --- prepare thread -----------------------------------------------------------------
    def _take(self) -> list[Inbound]:
        limit = self.settings.ingest_batch_samples
        with self._cond:
            while not self._items and not self._stop.is_set():
                self._taker_waiting = True
                self._cond.wait(IDLE_WAIT_S)
                self._taker_waiting = False
        self._linger(limit)
        with self._cond:
            out: list[Inbound] = []
            n = 0
            items = self._items
            while items and n < limit:
                item = items.popleft()
                out.append(item)
                n += item.samples or 1
            self._pending_samples -= n
            return out

    def _linger(self, limit: int) -> None:
        """Let a small batch fill while messages keep arriving, up to the linger time.

        Each batch costs a few round trips whatever its size, so a stream of small
        messages is cheaper in batches of a hundred than of a few. Polling (rather than
        a notification per message) keeps the MQTT thread's hand-off cheap; the first
        gap without a new message ends the wait, so a broker that limits unacknowledged
        messages (MQTT 3.1.1 in-flight windows) never stalls the pipeline.
        """
        deadline = time.monotonic() + self.settings.ingest_linger_ms / 1000
        seen = len(self._items)
        while (self._pending_samples < limit and not self._stop.is_set()
               and time.monotonic() < deadline):
            time.sleep(LINGER_GAP_S)
            now = len(self._items)
            if now == seen:
                return
            seen = now

    def _run_prepare(self) -> None:
        try:
            while True:
                items = self._take()
                if not items:
                    if self._stop.is_set():
                        return
                    continue
                metrics.PENDING.set(len(self._items) + len(items))
                prepared = self._prepare_until_done(items)
                if prepared is None:
                    return
                self._ready.put((items, prepared))
        finally:
            self._ready.put(None)

    def _prepare_until_done(self, items: list[Inbound]) -> _Prepared | None:
        """Prepare a batch; registry lookups wait for the database like writes do."""
        delay = RETRY_MIN_S
        while True:
            try:
                return self._prepare(items)
            except psycopg.OperationalError as exc:
                self._down(exc)
                self._registry.close()
            if self._stop.is_set() and delay >= RETRY_MAX_S:
                return None
            time.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    def _prepare(self, items: list[Inbound]) -> _Prepared:
        """Sort a batch into samples to copy, connection events and rejects (hot loop)."""
        registry = self._registry
        elevators = registry.refresh()
        p = _Prepared()
        add = p.batch.add
        accepted = p.accepted
        newest: dict[int, tuple[int, Sample]] = {}
        for item in items:
            eid = item.elevator_id
            got = accept(item, None if eid is None else (
                elevators.get(eid) or registry.missing(eid)))
            if got is None:
                continue  # a cleared retained state: nothing to store
            if isinstance(got, Reject):
                p.rejects.append(_reject_row(item, got))
                continue
            pk = got.elevator_pk
            msg = got.telemetry
            if msg is None:
                assert got.state is not None
                p.events.append(store.ConnectionEvent(pk, *got.state))
                p.states.append((got.elevator_id, pk, *got.state))
                continue
            add(pk, msg)
            accepted.append((got.elevator_id, pk, msg))
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
        if len(p.batch):
            p.encoded = encode(p.batch)
        return p

    # --- write thread -------------------------------------------------------------------
    def _run_write(self) -> None:
        while True:
            try:
                job = self._ready.get(timeout=LATEST_EVERY_S)
            except queue.Empty:  # quiet: write what the last batches left pending
                if self._latest:
                    self._flush_latest()
                continue
            if job is None:
                self._flush_latest()
                return
            items, prepared = job
            stored = self._write_until_done(items, prepared)
            if stored is not None:
                self._ack(items)
                self.committed_messages += len(items)
                self._hand_over(stored)
            self._release(items)

    def _flush_latest(self) -> None:
        try:
            self._write_latest(self._connection(), [], force=True)
        except psycopg.Error as exc:
            log.warning("latest state not written at stop", error=str(exc))

    def _release(self, items: list[Inbound]) -> None:
        with self._cond:
            self._pending_bytes -= sum(i.size for i in items)
            self._cond.notify_all()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._registry.url, autocommit=True)  # see _write
        return self._conn

    def _write_until_done(self, items: list[Inbound], p: _Prepared) -> list[Committed] | None:
        """Store a batch, retrying while the database is unreachable; what was committed
        (new samples and states, for the rules), or None if given up."""
        delay = RETRY_MIN_S
        while True:
            try:
                stored = [self._write(p)]
                if not self.db_up:
                    log.info("database reachable; writing")
                self.db_up = True
                metrics.DB_UP.set(1)
                return stored
            except psycopg.OperationalError as exc:
                self._down(exc)
            except Exception:
                if self._conn is not None and self._conn.closed:
                    self._down(RuntimeError("connection closed"))
                else:  # the data, not the connection: isolate the message at fault
                    log.exception("batch failed; storing its messages one by one")
                    self._rollback()
                    return self._write_one_by_one(items)
            if self._stop.is_set() and delay >= RETRY_MAX_S:
                log.error("stopping with unwritten messages; the broker will redeliver them",
                          messages=len(items))
                return None
            time.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    def _down(self, exc: Exception) -> None:
        metrics.DB_ERRORS.inc()
        if self.db_up:
            log.error("database unreachable; holding messages unacknowledged", error=str(exc))
        self.db_up = False
        metrics.DB_UP.set(0)
        if self._conn is not None and threading.current_thread() is self._writer:
            self._conn.close()
            self._conn = None

    def _rollback(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()

    def _write_one_by_one(self, items: list[Inbound]) -> list[Committed]:
        stored = []
        for item in items:
            try:
                stored.append(self._write(self._prepare([item])))
            except psycopg.OperationalError:
                raise
            except Exception as exc:
                self._rollback()
                reason = "storage_error" if isinstance(exc, psycopg.Error) else "internal_error"
                rej = Reject(reason, f"the message could not be stored: {exc}")
                self._write(self._prepare([Inbound(
                    mid=item.mid, qos=item.qos, generation=item.generation, topic=item.topic,
                    elevator_id=item.elevator_id, size=item.size, reject=rej,
                    payload=item.payload)]))
        return stored

    def _hand_over(self, stored: list[Committed]) -> None:
        """Give what was committed to the rules, once, after the commit (never retried:
        a failure here is the consumer's and must not write or acknowledge anything twice)."""
        if self._on_commit is None:
            return
        for committed in stored:
            if not (committed.messages or committed.states):
                continue
            try:
                self._on_commit(committed)
            except Exception:
                metrics.HANDOVER_ERRORS.inc()
                log.exception("the rules hand-off failed; the batch is stored")

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

    def _write(self, p: _Prepared) -> Committed:
        """Write one prepared batch; what it committed that was new (for the rules).

        Telemetry and rejects are durable before this returns (and so before any ack);
        each statement commits on its own, because a retry after a failure half-way is
        harmless: samples already stored are skipped as duplicates."""
        conn = self._connection()
        started = time.perf_counter()
        written = store.write_telemetry(conn, p.encoded) if p.encoded is not None else None
        inserted = written.inserted if written is not None else 0
        store.write_rejects(conn, p.rejects)
        store.write_connection_events(conn, p.events)
        self._write_latest(conn, p.latest)
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
        accepted = p.accepted
        if inserted < len(p.batch):  # something was a duplicate: hand over each sample once
            accepted = _new_only(accepted, written.duplicates if written else frozenset())
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
