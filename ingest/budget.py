"""A bound on stored rejects: a flood of bad messages costs neither unbounded disk nor a
write per message. Each (elevator id or topic, reason) may store ``per_minute`` rejects a
minute; the rest are counted (``whistle_ingest_rejects_not_stored``) and dropped."""

from __future__ import annotations

import time
from collections.abc import Callable

PER_MINUTE = 20
MAX_KEYS = 100_000  # forget everything past this many distinct senders (a random-id flood)


class RejectBudget:
    """Rejects stored per (sender, reason) and minute; thread-confined (the prepare thread)."""

    def __init__(self, per_minute: int = PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._minute = -1
        self._used: dict[tuple[str, str], int] = {}

    def allow(self, sender: str, reason: str) -> bool:
        """Whether this reject may be stored (counts it either way)."""
        minute = int(self.clock() // 60)
        if minute != self._minute or len(self._used) >= MAX_KEYS:
            self._minute, self._used = minute, {}
        key = (sender, reason)
        used = self._used.get(key, 0) + 1
        self._used[key] = used
        return used <= self.per_minute
