"""Storm control: many alerts of one kind at one site in a short time become one message.

Per (organization, change, site, kind): the first ``threshold - 1`` notifications within
``window_s`` go out one by one (they may be unrelated). The one that reaches the threshold
starts a storm: it and the earlier ones are held for ``settle_s`` to collect the rest of a
simultaneous burst, then go out as one grouped message listing every elevator. Later ones
join the storm and go out grouped, at most once per ``settle_s``, until the site has been
quiet for ``window_s``. Items may carry an ``ident`` (a case id): the threshold counts
distinct idents, so one case changing three times (climbing, say) is not a storm. Pure
logic with an injected clock; kept in memory only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from rules.policy import Storm


@dataclass(slots=True)
class _State:
    recent: deque[tuple[float, Any, Hashable | None]] = field(default_factory=deque)
    storm_since: float | None = None
    last: float = 0.0
    pending: list[Any] = field(default_factory=list)
    flush_at: float | None = None
    size: int = 0  # items in the storm so far


@dataclass(frozen=True, slots=True)
class Group:
    """Items to send as one message, and how big the storm is so far."""

    key: Hashable
    items: list[Any]
    storm_since: float
    storm_size: int


class StormControl:
    """Decides, per key, whether a notification goes out now or is grouped."""

    def __init__(self, storm: Storm) -> None:
        self.storm = storm
        self._states: dict[Hashable, _State] = {}

    def offer(self, key: Hashable, item: Any, *, now: float, ident: Hashable | None = None
              ) -> bool:
        """True: send this item on its own now; False: it is held for a grouped message.
        Items with the same ``ident`` count once towards the threshold."""
        st = self._states.setdefault(key, _State())
        window = self.storm.window_s
        while st.recent and now - st.recent[0][0] > window:
            st.recent.popleft()
        if st.storm_since is not None and now - st.last <= window:
            st.pending.append(item)
            st.last = now
            st.size += 1
            if st.flush_at is None:
                st.flush_at = now + self.storm.settle_s
            return False
        st.storm_since = None
        st.recent.append((now, item, ident))
        distinct = {x if x is not None else ("item", n)
                    for n, (_, _, x) in enumerate(st.recent)}
        if len(distinct) < self.storm.threshold:
            return True
        st.storm_since = st.last = now
        st.pending = [i for _, i, _ in st.recent]
        st.size = len(st.pending)
        st.recent.clear()
        st.flush_at = now + self.storm.settle_s
        return False

    def due(self, *, now: float) -> list[Group]:
        """Grouped messages whose settle time has come; forgets storms that are over."""
        out: list[Group] = []
        for key, st in list(self._states.items()):
            if st.flush_at is not None and st.flush_at <= now and st.pending:
                assert st.storm_since is not None
                out.append(Group(key, st.pending, st.storm_since, st.size))
                st.pending = []
                st.flush_at = None
            quiet = now - st.last > self.storm.window_s
            if st.storm_since is not None and quiet and not st.pending:
                st.storm_since = None
            if st.storm_since is None and not st.pending and (
                    not st.recent or now - st.recent[-1][0] > self.storm.window_s):
                del self._states[key]
        return out

    def active(self) -> int:
        """Keys currently in a storm (for metrics and tests)."""
        return sum(1 for st in self._states.values() if st.storm_since is not None)
