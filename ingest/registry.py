"""The ingester's view of the registry: which elevators exist, and their range limits.

The view is cached and reloaded every minute, and at once (before the next batch) when
the registry channel announces a change, such as a decommissioned elevator: its connection
LISTENs on ``whistle_registry``. An announcement naming an elevator reloads that elevator
alone, so registering one costs the same at 100 and at 100,000 elevators."""

from __future__ import annotations

import time

import psycopg

from core.domain import ElevatorLimits
from storage import intake as store
from storage import outbox
from storage.db import connect

REGISTRY_REFRESH_S = 60.0
UNKNOWN_RETRY_S = 5.0  # how long an unregistered id is remembered before asking again


class Registry:
    """The registered elevators, cached; asked again for unknown ids at most every 5 s."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection | None = None
        self.elevators: dict[str, ElevatorLimits] = {}
        self.unknown: dict[str, float] = {}
        self.loaded = 0.0

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.url, autocommit=True)
            outbox.listen(self.conn, outbox.REGISTRY_CHANNEL)
            self.loaded = 0.0
        return self.conn

    def refresh(self) -> dict[str, ElevatorLimits]:
        """The cache, reloaded when older than a minute or when the registry changed: only
        the elevators the announcements name, everything for one that names none (a bulk
        import, a site's change)."""
        conn = self._connection()
        everything, named = False, set()
        for _, payload in outbox.received(conn, timeout=0):  # drain every announcement
            pk = payload.get("elevator_pk")
            if isinstance(pk, int):
                named.add(pk)
            else:
                everything = True
        now = time.monotonic()
        if everything or now - self.loaded > REGISTRY_REFRESH_S:
            self.elevators = store.load_elevators(conn)
            self.unknown.clear()
            self.loaded = now
        elif named:
            fresh = store.load_elevators(conn, pks=sorted(named))
            self.elevators.update(fresh)
            for eid in fresh:
                self.unknown.pop(eid, None)
        return self.elevators

    def missing(self, elevator_id: str) -> ElevatorLimits | None:
        """Ask the database about an id not in the cache (registered since the last load?)."""
        now = time.monotonic()
        if now - self.unknown.get(elevator_id, -UNKNOWN_RETRY_S) < UNKNOWN_RETRY_S:
            return None
        found = store.load_elevators(self._connection(), elevator_id).get(elevator_id)
        if found is None:
            self.unknown[elevator_id] = now
        else:
            self.elevators[elevator_id] = found
        return found

    def close(self) -> None:
        """Close the connection."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
