"""The writer side of the ingester: batch, store, commit, then acknowledge.

Two threads form a pipeline, so that PostgreSQL writes one batch while Python prepares
the next. The *prepare* thread takes whatever the MQTT thread has handed over
(:mod:`ingest.handover`; up to a batch size, and a batch is never older than the flush
deadline because it takes what is there as soon as the previous batch moved on), checks
it against the registry and lays it out as binary COPY data (:mod:`ingest.prepare`). The
*write* thread stores it (:mod:`ingest.writer`), commits, and only then acknowledges the
messages, in the order they arrived, and hands what was new to the rules, once. If
PostgreSQL is unreachable the write thread keeps its batch, retries with backoff and
acknowledges nothing; the prepare thread stops at the two-batch hand-over queue, the
broker stops sending once the Receive Maximum of unacknowledged messages is reached, and a
byte budget bounds memory for large messages.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import psycopg
import structlog

from core.settings import Settings
from core.stream import Committed
from ingest import metrics
from ingest.budget import RejectBudget
from ingest.handover import Handover
from ingest.prepare import Prepared, prepare
from ingest.registry import Registry
from ingest.writer import LATEST_EVERY_S, RETRY_MAX_S, RETRY_MIN_S, Writer
from messaging.subscriber import Inbound

__all__ = ["Pipeline"]

log = structlog.get_logger(__name__)

HANDOVER_DEPTH = 2  # prepared batches waiting for the write thread


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
        self._ready: queue.Queue[tuple[list[Inbound], Prepared] | None] = queue.Queue(
            HANDOVER_DEPTH)
        self._registry = Registry(settings.database_url)
        self._budget = RejectBudget()
        # Not in one process with the rules: the committed samples go to the rules feed.
        self._writer = Writer(settings.database_url, prepare=self._prepare,
                              stopping=self._stop.is_set, feed=on_commit is None)
        self._prepare_thread = threading.Thread(target=self._run_prepare,
                                                name="ingest-prepare", daemon=True)
        self._write_thread = threading.Thread(target=self._run_write, name="ingest-writer",
                                              daemon=True)
        self.committed_messages = 0

    @property
    def db_up(self) -> bool:
        """True while the last write reached the database."""
        return self._writer.db_up

    def handoff(self, item: Inbound) -> None:
        """Queue a decoded message (paho's thread); blocks only past the byte budget."""
        self._handover.put(item)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the prepare and write threads."""
        self._prepare_thread.start()
        self._write_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what has arrived (best effort within timeout), then stop."""
        self._handover.stop()
        self._prepare_thread.join(timeout)
        self._write_thread.join(timeout)
        self._registry.close()
        self._writer.close()

    @property
    def pending(self) -> int:
        """Messages received and not yet committed."""
        return len(self._handover)

    # --- prepare thread -----------------------------------------------------------------
    def _prepare(self, items: list[Inbound]) -> Prepared:
        return prepare(items, self._registry, self._budget)

    def _run_prepare(self) -> None:
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
                self._ready.put((items, prepared))
        finally:
            self._ready.put(None)

    def _prepare_until_done(self, items: list[Inbound]) -> Prepared | None:
        """Prepare a batch; registry lookups wait for the database like writes do."""
        delay = RETRY_MIN_S
        while True:
            try:
                return self._prepare(items)
            except psycopg.OperationalError as exc:
                self._writer.down(exc, drop_connection=False)  # the writer's is its own
                self._registry.close()
            if self._stop.is_set() and delay >= RETRY_MAX_S:
                return None
            time.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    # --- write thread -------------------------------------------------------------------
    def _run_write(self) -> None:
        while True:
            try:
                job = self._ready.get(timeout=LATEST_EVERY_S)
            except queue.Empty:  # quiet: write what the last batches left pending
                self._writer.flush_latest()
                continue
            if job is None:
                self._writer.flush_latest()
                return
            items, prepared = job
            stored = self._writer.write_until_done(items, prepared)
            if stored is not None:
                self._ack(items)
                self.committed_messages += len(items)
                self._hand_over(stored)
            self._handover.release(items)

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
