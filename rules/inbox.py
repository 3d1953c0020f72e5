"""What the rules worker takes in: committed batches from the ingester, or raw MQTT
messages when `whistle rules` runs on its own subscription, merged into engine batches.

The ingester hands over only samples that were new to the store, so its batches need no
deduplication here. Messages from the rules' own subscription go through the one accept
path (:mod:`core.accept`): registered elevators only, limits checked, duplicates dropped.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from core.accept import Dedup, accept
from core.codec import Reject, Telemetry
from core.domain import ElevatorLimits
from core.stream import Committed
from messaging.subscriber import Inbound

__all__ = ["BATCH_ITEMS", "Inbox"]

log = structlog.get_logger(__name__)

QUEUE_DEPTH = Gauge("whistle_rules_queue_depth", "Batches waiting for the rules worker")
FEED_WAITS = Counter("whistle_rules_feed_waits",
                     "Seconds-long waits of the ingester on a lagging rules worker")

QUEUE_MAX = 10_000
FEED_TIMEOUT_S = 1.0  # the most feed() may block the ingester
BATCH_ITEMS = 500  # queue items merged into one engine batch
UNKNOWN_REFRESH_S = 1.0  # an unknown elevator asks the registry again at most this often

Item = tuple[Any, ...]  # ("committed", Committed, t) | ("inbound", Inbound, t) | ("wake",)


class Inbox:
    """The worker's queue. ``limits`` answers what the registry says of an elevator id;
    ``refresh`` reloads the registry (for an id registered a moment ago)."""

    def __init__(self, *, limits: Callable[[str], ElevatorLimits | None],
                 refresh: Callable[[], None], stopping: Callable[[], bool]) -> None:
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=QUEUE_MAX)
        self._limits = limits
        self._refresh = refresh
        self._stopping = stopping
        self._dedup = Dedup()
        self._last_unknown_refresh = 0.0

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

    def on_inbound(self, item: Inbound) -> None:
        """A message of the rules' own subscription (paho's thread; the broker's receive
        maximum bounds what can be outstanding here)."""
        self._queue.put(("inbound", item, time.monotonic()))

    def wake(self) -> None:
        """Wake the worker now (a registry change, a stop)."""
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

    def batch(self, items: list[Item]) -> tuple[Committed, list[Inbound]]:
        """One engine batch from queue items, and the MQTT messages to acknowledge after."""
        messages: list[tuple[str, int, Telemetry]] = []
        states: list[tuple[str, int, str, int]] = []
        inbound: list[Inbound] = []
        for item in items:
            if item[0] == "committed":
                c: Committed = item[1]
                messages.extend(c.messages)
                states.extend(c.states)
            elif item[0] == "inbound":
                got: Inbound = item[1]
                inbound.append(got)
                self._take_inbound(got, messages, states)
        return Committed(messages, states), inbound

    def _take_inbound(self, item: Inbound, messages: list[tuple[str, int, Telemetry]],
                      states: list[tuple[str, int, str, int]]) -> None:
        eid = item.elevator_id
        if item.reject is not None or eid is None:
            return  # the ingester records the reject
        limits = self._limits(eid)
        if limits is None and time.monotonic() - self._last_unknown_refresh > UNKNOWN_REFRESH_S:
            self._last_unknown_refresh = time.monotonic()
            self._refresh()  # maybe registered a moment ago
            limits = self._limits(eid)
        got = accept(item, limits)
        if got is None or isinstance(got, Reject):
            return  # the ingester records the reject
        if got.telemetry is not None:
            fresh = self._dedup.fresh(got.elevator_pk, got.telemetry)
            if fresh is not None:
                messages.append((eid, got.elevator_pk, fresh))
        elif got.state is not None:
            states.append((eid, got.elevator_pk, *got.state))
