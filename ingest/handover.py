"""The hand-over between paho's thread and the prepare thread: a queue of decoded messages
with a byte budget, taken in batches that linger briefly while small messages arrive."""

from __future__ import annotations

import threading
import time
from collections import deque

from messaging.subscriber import Inbound

__all__ = ["Handover"]

IDLE_WAIT_S = 0.5
LINGER_GAP_S = 0.002  # a batch stops filling when nothing arrived for this long


class Handover:
    """Messages received and not yet prepared; blocks the producer past ``max_bytes``."""

    def __init__(self, *, max_bytes: int, batch_samples: int, linger_ms: int) -> None:
        self.max_bytes = max_bytes
        self.batch_samples = batch_samples
        self.linger_s = linger_ms / 1000
        self._items: deque[Inbound] = deque()
        self._cond = threading.Condition()
        self._taker_waiting = False
        self._pending_bytes = 0
        self._pending_samples = 0
        self.stopping = threading.Event()

    def put(self, item: Inbound) -> None:
        """Queue a decoded message (paho's thread); waits only when the budget is spent."""
        with self._cond:
            while self._pending_bytes > self.max_bytes and not self.stopping.is_set():
                self._cond.wait(IDLE_WAIT_S)
            self._items.append(item)
            self._pending_bytes += item.size
            self._pending_samples += item.samples or 1
            if self._taker_waiting:  # once per wait: the taker takes all there is anyway
                self._taker_waiting = False
                self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)

    def take(self) -> list[Inbound]:
        """The next batch (at most ``batch_samples``); empty when stopping and idle."""
        limit = self.batch_samples
        with self._cond:
            while not self._items and not self.stopping.is_set():
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
        deadline = time.monotonic() + self.linger_s
        seen = len(self._items)
        while (self._pending_samples < limit and not self.stopping.is_set()
               and time.monotonic() < deadline):
            time.sleep(LINGER_GAP_S)
            now = len(self._items)
            if now == seen:
                return
            seen = now

    def release(self, items: list[Inbound]) -> None:
        """Their bytes no longer count against the budget (committed or given up)."""
        with self._cond:
            self._pending_bytes -= sum(i.size for i in items)
            self._cond.notify_all()

    def stop(self) -> None:
        """Wake everybody waiting: the pipeline stops."""
        self.stopping.set()
        with self._cond:
            self._cond.notify_all()
