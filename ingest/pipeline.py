"""The writer side of the ingester: batch, store, commit, then acknowledge.

Threads form a pipeline, so that PostgreSQL writes batches while Python prepares the
next. The *prepare* thread takes whatever the MQTT thread has handed over
(:mod:`ingest.handover`; up to a batch size, and a batch is never older than the flush
deadline because it takes what is there as soon as the previous batch moved on), checks
it against the registry and lays it out as binary COPY data (:mod:`ingest.prepare`). A
*write* thread (``WHISTLE_INGEST_WRITERS`` of them, each with its own connection) stores
it (:mod:`ingest.writer`): the first one takes any batch, a further one only a large
batch (half the batch size or more: a backlog), whichever is free first, so a light load
is written in batches as large as with one writer and a heavy one on several connections.
It commits, and only then acknowledges the messages and hands
what was new to the rules, once. Batches are numbered as they are prepared and finish in
that order: a batch may copy its telemetry while the one before it is still being written
(PostgreSQL then works on two at once), but it appends to the rules feed, acknowledges
and hands over only after its predecessor has, so acknowledgements keep the order of
arrival and each partition's feed the order of its samples. A batch that could wait on
rows its predecessor's transaction holds (the same elevator over an overlapping time
span, or connection events of the same elevator) starts only after it, so the threads
can never wait on each other in a circle. If PostgreSQL is unreachable the write threads
keep their batches, retry with backoff and acknowledge nothing; the prepare thread stops
at the hand-over queue, the broker stops sending once the Receive Maximum of
unacknowledged messages is reached, and a byte budget bounds memory for large messages.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial

import psycopg
import structlog

from core.settings import Settings
from core.stream import Committed
from ingest import metrics
from ingest.budget import RejectBudget
from ingest.handover import Handover
from ingest.prepare import Prepared, prepare
from ingest.registry import Registry
from ingest.writer import LATEST_EVERY_S, RETRY_MAX_S, RETRY_MIN_S, DbStatus, Writer
from messaging.subscriber import Inbound

__all__ = ["Pipeline"]

log = structlog.get_logger(__name__)

HANDOVER_DEPTH = 2  # prepared batches waiting for a write thread

Job = tuple[int, list[Inbound], Prepared]  # (number, messages, prepared batch)


class _Turns:
    """Batches numbered in the order they were prepared, finished in that order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.finished = -1  # every batch up to this number is finished
        self.writing: dict[int, Prepared] = {}  # numbered, not finished

    def wait(self, n: int) -> None:
        """Return once every batch before number n is finished."""
        with self._cond:
            while self.finished < n - 1:
                self._cond.wait()

    def number(self, n: int, p: Prepared) -> None:
        """Batch n is on its way to a write thread."""
        with self._cond:
            self.writing[n] = p

    def finish(self, n: int) -> None:
        """Batch n is finished (its predecessors are)."""
        with self._cond:
            self.finished = n
            self.writing.pop(n, None)
            self._cond.notify_all()

    def overlaps_earlier(self, n: int, p: Prepared) -> bool:
        """True if batch n could wait on rows held by a batch before it still writing."""
        with self._cond:
            earlier = [q for k, q in self.writing.items() if k < n]
        return any(p.overlaps(q) for q in earlier)


class _Jobs:
    """Prepared batches waiting for a write thread, oldest first: the first writer takes
    any, a further writer only a large one. A batch goes to whichever writer is free
    first (a further writer that had to be idle when the batch was dispatched was seldom
    idle: it was waiting for its turn to append, and the first writer took nearly every
    batch of a backlog)."""

    def __init__(self, depth: int, large: int) -> None:
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._depth = depth
        self._large = large
        self._closed = False

    def put(self, job: Job) -> None:
        """Queue a batch; waits while ``depth`` are waiting already."""
        with self._cond:
            while len(self._jobs) >= self._depth:
                self._cond.wait()
            self._jobs.append(job)
            self._cond.notify_all()

    def close(self) -> None:
        """No more batches: each writer gets None once nothing is left for it."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, writer: int, timeout: float) -> Job | None:
        """The oldest batch if this writer may take it; None once closed and nothing is
        left for it; raise queue.Empty after ``timeout`` without one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                jobs = self._jobs
                if jobs and (writer == 0 or len(jobs[0][2].batch) >= self._large):
                    job = jobs.popleft()
                    self._cond.notify_all()
                    return job
                if self._closed and (writer != 0 or not jobs):
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise queue.Empty
                self._cond.wait(left)


class Pipeline:
    """Batches handed-over messages into PostgreSQL and acknowledges them after commit."""

    def __init__(self, settings: Settings, *, ack: Callable[[list[Inbound]], int],
                 on_commit: Callable[[Committed], None] | None = None) -> None:
        assert settings.database_url is not None
        self.settings = settings
        self._ack = ack
        self._on_commit = on_commit
        self._handover = Handover(max_bytes=settings.ingest_max_pending_bytes,
                                  batch_samples=settings.ingest_batch_samples,
                                  linger_ms=settings.ingest_linger_ms)
        self._stop = self._handover.stopping
        # The first writer takes every batch; a further writer only a large one (a
        # backlog), so a light load is written in batches as large as with one writer
        # (each batch has a fixed cost).
        self._jobs = _Jobs(HANDOVER_DEPTH, max(1, settings.ingest_batch_samples // 2))
        self._registry = Registry(settings.database_url)
        self._budget = RejectBudget()
        self._turns = _Turns()
        status = DbStatus()
        # Not in one process with the rules: the committed samples go to the rules feed.
        self._writers = [Writer(settings.database_url, prepare=self._prepare,
                                stopping=self._stop.is_set, feed=on_commit is None,
                                status=status)
                         for _ in range(settings.ingest_writers)]
        self._prepare_thread = threading.Thread(target=self._run_prepare,
                                                name="ingest-prepare", daemon=True)
        self._write_threads = [
            threading.Thread(target=self._run_write, args=(k, w), name=f"ingest-writer-{k}",
                             daemon=True) for k, w in enumerate(self._writers)]
        self.committed_messages = 0

    @property
    def db_up(self) -> bool:
        """True while the last write reached the database."""
        return self._writers[0].db_up

    @property
    def batches_by_writer(self) -> list[int]:
        """Batches each write thread has written."""
        return [w.batches for w in self._writers]

    def handoff(self, item: Inbound) -> None:
        """Queue a decoded message (paho's thread); blocks only past the byte budget."""
        self._handover.put(item)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the prepare and write threads."""
        self._prepare_thread.start()
        for t in self._write_threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what has arrived (best effort within timeout), then stop."""
        self._handover.stop()
        self._prepare_thread.join(timeout)
        for t in self._write_threads:
            t.join(timeout)
        self._registry.close()
        for w in self._writers:
            w.close()

    @property
    def pending(self) -> int:
        """Messages received and not yet committed."""
        return len(self._handover)

    # --- prepare thread -----------------------------------------------------------------
    def _prepare(self, items: list[Inbound]) -> Prepared:
        return prepare(items, self._registry, self._budget)

    def _run_prepare(self) -> None:
        n = 0
        try:
            while True:
                items = self._handover.take()
                if not items:
                    if self._stop.is_set():
                        return
                    continue
                metrics.PENDING.set(len(self._handover) + len(items))
                prepared = self._prepare_until_done(items)
                if prepared is None:
                    return
                self._turns.number(n, prepared)
                self._jobs.put((n, items, prepared))
                n += 1
        finally:
            self._jobs.close()

    def _prepare_until_done(self, items: list[Inbound]) -> Prepared | None:
        """Prepare a batch; registry lookups wait for the database like writes do."""
        delay = RETRY_MIN_S
        while True:
            try:
                return self._prepare(items)
            except psycopg.OperationalError as exc:
                self._writers[0].down(exc, drop_connection=False)  # theirs are their own
                self._registry.close()
            if self._stop.is_set() and delay >= RETRY_MAX_S:
                return None
            time.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    # --- write thread -------------------------------------------------------------------
    def _run_write(self, k: int, writer: Writer) -> None:
        turns, jobs = self._turns, self._jobs
        while True:
            try:
                job = jobs.get(k, timeout=LATEST_EVERY_S)
            except queue.Empty:  # quiet: write what the last batches left pending
                writer.flush_latest()
                continue
            if job is None:
                writer.flush_latest()
                return
            n, items, prepared = job
            try:
                if turns.overlaps_earlier(n, prepared):
                    turns.wait(n)
                stored = writer.write_until_done(items, prepared, partial(turns.wait, n))
                turns.wait(n)
                if stored is not None:
                    self._ack(items)
                    self.committed_messages += len(items)
                    self._hand_over(stored)
                self._handover.release(items)
            finally:
                turns.finish(n)

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
