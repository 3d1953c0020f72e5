"""What the rules worker takes in: committed batches from the ingester when both run in
one process (`whistle serve`), merged into engine batches, and wake-ups.

The ingester hands over only samples that were new to the store (the unique index on
(elevator, ts, seq) decided it in the write), so nothing here deduplicates: a redelivered
sample never reaches the engine. A standalone `whistle rules` reads the same thing from
the rules feed (:mod:`storage.feed`, :mod:`rules.partitions`) instead.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from core.codec import Telemetry
from core.stream import Committed

__all__ = ["BATCH_ITEMS", "Inbox"]

log = structlog.get_logger(__name__)

QUEUE_DEPTH = Gauge("whistle_rules_queue_depth", "Batches waiting for the rules worker")
FEED_WAITS = Counter("whistle_rules_feed_waits",
                     "Seconds-long waits of the ingester on a lagging rules worker")

QUEUE_MAX = 10_000
FEED_TIMEOUT_S = 1.0  # the most feed() may block the ingester
BATCH_ITEMS = 500  # queue items merged into one engine batch

Item = tuple[Any, ...]  # ("committed", Committed, t) | ("wake",)


class Inbox:
    """The worker's queue."""

    def __init__(self, *, stopping: Callable[[], bool]) -> None:
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=QUEUE_MAX)
        self._stopping = stopping

    # --- producers (other threads) -------------------------------------------------------
    def feed(self, committed: Committed) -> None:
        """Take a committed batch from the ingester (its thread).

        When the rules worker lags this blocks the ingester's writer rather than drop the
        batch: a missed detection is worse than slower ingestion, and the ingester's
        acknowledgements wait, so the broker holds the backlog and memory stays bounded.
        """
        item = ("committed", committed, time.monotonic())
        while not self._stopping():
            try:
                self._queue.put(item, timeout=FEED_TIMEOUT_S)
                return
            except queue.Full:
                FEED_WAITS.inc()
                log.warning("rules worker lagging: the ingester waits",
                            messages=len(committed.messages))

    def wake(self) -> None:
        """Wake the worker now (a registry change, new rows in the feed, a stop)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(("wake",))

    # --- the worker ----------------------------------------------------------------------
    def take(self, timeout: float) -> list[Item]:
        """Up to BATCH_ITEMS queued items, waiting at most ``timeout`` for the first."""
        try:
            first = self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return []
        items = [first]
        while len(items) < BATCH_ITEMS:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        QUEUE_DEPTH.set(self._queue.qsize())
        return items

    @staticmethod
    def batch(items: list[Item]) -> Committed:
        """One engine batch from queue items."""
        messages: list[tuple[str, int, Telemetry]] = []
        states: list[tuple[str, int, str, int]] = []
        for item in items:
            if item[0] == "committed":
                c: Committed = item[1]
                messages.extend(c.messages)
                states.extend(c.states)
        return Committed(messages, states)
