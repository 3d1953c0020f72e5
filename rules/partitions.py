"""Several `whistle rules` processes: who evaluates which elevators (CONTRACT section 10).

Elevators fall into :data:`core.partitions.PARTITIONS` partitions. Each partition is
leased by one process at a time in PostgreSQL (:mod:`storage.leases`): a row with its
owner, an epoch and an expiry, on PostgreSQL's clock. Two parts work together:

- :class:`Leases`, a thread of its own (so a busy worker cannot let a lease lapse), every
  ``WHISTLE_RULES_LEASE_S / 3`` seconds: says this process is alive, renews what it holds
  (a lease lasts 2/3 of the setting, so one missed renewal is survived and a dead process's
  partitions are free within the setting), takes free or expired partitions up to its fair
  share ``ceil(P / live processes)``, and asks the worker to give back what is beyond it.
- :class:`Owned`, on the worker thread (the only one that touches the engine): adopts a
  partition by loading its elevators, their persisted rule state and the open alerts, and
  only then reads its feed (:mod:`storage.feed`) from the partition's cursor; gives one
  back by saving its state and releasing the lease in one transaction; forgets one that
  was lost. Every write it makes (alerts, rule state, cursors) happens in a *fenced*
  transaction: the leases are share-locked and checked (owner and epoch) in it, so a
  process that was paused past its lease and lost it writes nothing, and no process can
  take a partition while a write of its holder is in flight.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from prometheus_client import Gauge

from core.partitions import PARTITIONS, partition_of
from core.stream import Committed
from rules.transitions import Transition
from storage import alerts, feed, leases, rulestate
from storage.db import connect

log = structlog.get_logger(__name__)

OWNED = Gauge("whistle_rules_partitions_owned", "Partitions of elevators this process owns")

FEED_ROWS = 16  # feed rows (ingest batches) read at once: a backlog is evaluated a few
# ingest batches at a time, so memory stays bounded


def new_owner() -> str:
    """A name no other process has: host, pid and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leases:
    """The lease thread (see the module docstring). ``on_change`` wakes the worker."""

    def __init__(self, url: str, *, lease_s: float, on_change: Callable[[], None],
                 owner: str | None = None, partitions: int = PARTITIONS) -> None:
        self.url = url
        self.owner = owner or new_owner()
        self.partitions = partitions
        self.ttl_s = lease_s * 2 / 3
        self.every_s = lease_s / 3
        self._on_change = on_change
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # partition -> epoch: what is renewed
        self._acquired: dict[int, tuple[int, int]] = {}  # (epoch, cursor), for the worker
        self._lost: set[int] = set()
        self._surplus = 0
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="whistle-rules-leases",
                                        daemon=True)
        self.rounds = 0
        self.ready = threading.Event()  # set after the first round

    def start(self) -> None:
        """Start renewing and acquiring."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the worker releases what it holds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.close()

    def close(self) -> None:
        """Close the lease connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except psycopg.Error as exc:
                log.warning("lease round failed; retrying", error=str(exc))
                self.close()
            except Exception:  # a bug must not end the heartbeat silently
                log.exception("lease round failed; retrying")
                self.close()
            self._stop.wait(self.every_s)

    def round(self) -> None:
        """One heartbeat: renew, take a fair share, ask to give back the surplus."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, autocommit=True)
        conn = self._conn
        with self._lock:
            held = dict(self._held)
        with conn.transaction():
            leases.ensure(conn, self.partitions)
            live = leases.heartbeat(conn, self.owner, self.ttl_s)
            renewed = leases.renew(conn, self.owner, held, self.ttl_s)
        fair = math.ceil(self.partitions / max(1, live))
        with conn.transaction():
            got = leases.acquire(conn, self.owner, fair - len(renewed), self.ttl_s)
        with self._lock:
            lost = {p for p in held if p not in renewed and p in self._held}
            for p in lost:
                self._held.pop(p, None)
                self._acquired.pop(p, None)
            self._lost |= lost
            for p, (epoch, cursor) in got.items():
                self._held[p] = epoch
                self._acquired[p] = (epoch, cursor)
            self._surplus = max(0, len(self._held) - fair)
            surplus = self._surplus
        if lost:
            log.warning("partitions lost (another process took them)", partitions=sorted(lost))
        if got or lost or surplus:
            log.info("partitions", owner=self.owner, acquired=sorted(got), live=live,
                     fair_share=fair, surplus=surplus)
            self._on_change()
        self.rounds += 1
        self.ready.set()

    def changes(self) -> tuple[dict[int, tuple[int, int]], set[int], int]:
        """For the worker: partitions acquired (epoch, cursor), lost, and how many to give
        back."""
        with self._lock:
            got, self._acquired = self._acquired, {}
            lost, self._lost = self._lost, set()
            return got, lost, self._surplus

    def released(self, parts: set[int]) -> None:
        """The worker gave these back."""
        with self._lock:
            for p in parts:
                self._held.pop(p, None)
            self._surplus = max(0, self._surplus - len(parts))

    def leave(self) -> None:
        """Say goodbye (the member row goes, so the others take a larger share at once)."""
        with connect(self.url, autocommit=True) as conn:
            leases.leave(conn, self.owner)


Infos = Callable[[list[dict[str, Any]]], list[Any]]


class Owned:
    """The worker's side (see the module docstring)."""

    def __init__(self, lease: Leases, *, engine: Callable[[], Any], infos: Infos) -> None:
        self.lease = lease
        self._engine = engine
        self._infos = infos
        self.epochs: dict[int, int] = {}
        self.cursors: dict[int, int] = {}
        self.feed_rows = 0

    @property
    def owner(self) -> str:
        """This process's name in the lease table."""
        return self.lease.owner

    def owns(self, elevator_pk: int) -> bool:
        """Whether this process evaluates the elevator."""
        return partition_of(elevator_pk) in self.epochs

    def pks(self, parts: set[int]) -> list[int]:
        """The elevators of these partitions that the engine knows."""
        return [i.pk for i in self._engine().elevators if partition_of(i.pk) in parts]

    @contextmanager
    def fenced(self, conn: psycopg.Connection) -> Iterator[set[int]]:
        """A transaction in which the partitions still held are locked; those partitions.
        Partitions found lost are forgotten when it ends."""
        with conn.transaction():
            allowed = leases.fence(conn, self.owner, self.epochs)
            yield allowed
        lost = set(self.epochs) - allowed
        if lost:
            log.warning("lease lost: nothing written for these partitions",
                        partitions=sorted(lost))
            self.drop(lost)

    # --- ownership changes (worker thread) ----------------------------------------------
    def step(self, connection: Callable[[], AbstractContextManager[psycopg.Connection]]
             ) -> bool:
        """Apply what the lease thread decided; True if anything changed."""
        got, lost, surplus = self.lease.changes()
        if lost:
            self.drop(lost)
        if surplus or got:
            with connection() as conn:
                if surplus:
                    self.give_back(conn, set(sorted(self.epochs)[-surplus:]))
                if got:
                    self.adopt(conn, got)
        OWNED.set(len(self.epochs))
        return bool(got or lost or surplus)

    def adopt(self, conn: psycopg.Connection, got: dict[int, tuple[int, int]]) -> None:
        """Load the partitions' elevators and persisted state, then evaluate them."""
        parts = sorted(got)
        rows = rulestate.elevators(conn, partitions=(PARTITIONS, parts))
        blobs = rulestate.load(conn, [r["pk"] for r in rows])
        engine = self._engine()
        engine.restore(blobs)
        engine.set_elevators(self._infos(rows))
        for p in parts:
            self.epochs[p], self.cursors[p] = got[p]
        engine.sync_open(alerts.open_keys(conn))
        log.info("partitions adopted", partitions=parts, elevators=len(rows),
                 restored=len(blobs))

    def drop(self, parts: set[int]) -> None:
        """Forget partitions another process holds now."""
        self._engine().release(self.pks(parts))
        for p in parts:
            self.epochs.pop(p, None)
            self.cursors.pop(p, None)
        OWNED.set(len(self.epochs))

    def give_back(self, conn: psycopg.Connection, parts: set[int]) -> None:
        """Save the partitions' state and release their leases (one transaction)."""
        parts &= set(self.epochs)
        if not parts:
            return
        blobs = self._engine().snapshot(pks=self.pks(parts))
        with self.fenced(conn) as allowed:
            keep = {pk: b for pk, b in blobs.items() if partition_of(pk) in allowed}
            rulestate.save(conn, blobs=keep, now=datetime.now(UTC))
            released = leases.release(conn, self.owner,
                                      {p: self.epochs[p] for p in parts & allowed})
        self.drop(parts)
        self.lease.released(parts)
        log.info("partitions given back", partitions=sorted(released))

    # --- the feed -------------------------------------------------------------------------
    def read(self, conn: psycopg.Connection) -> tuple[list[bytes], dict[int, int]] | None:
        """Feed bodies of the owned partitions after their cursors, and the new cursors
        (every owned partition has seen the rows read); None: nothing new."""
        rows, last = feed.read(conn, self.cursors, limit=FEED_ROWS)
        if last is None:
            return None
        self.feed_rows += len(rows)
        return [body for _, _, body in rows], {p: last for p in self.cursors}

    def next_batch(self, connection: Callable[[], AbstractContextManager[psycopg.Connection]]
                   ) -> tuple[Committed, dict[int, int]] | None:
        """The next rows of the owned partitions' feed as one batch, with the cursors it
        moves to (the batch may be empty when the rows read held nothing of the owned
        partitions); elevators registered a moment ago are loaded first. None: nothing new."""
        with connection() as conn:
            got = self.read(conn)
            if got is None:
                return None
            bodies, cursors = got
            batch = feed.decode(bodies)
            engine = self._engine()
            new = sorted({pk for _e, pk, _m in batch.messages if not engine.knows(pk)})
            if new:
                engine.set_elevators(self._infos(rulestate.elevators(conn, new)))
        return batch, cursors

    def write(self, conn: psycopg.Connection, transitions: list[Transition],
              cursors: dict[int, int], apply: Callable[..., Any]) -> None:
        """Write transitions of the partitions still held and move their cursors, fenced."""
        with self.fenced(conn) as allowed:
            apply(transitions=[t for t in transitions if partition_of(t.elevator_pk) in allowed])
            mine = {p: c for p, c in cursors.items() if p in allowed}
            leases.advance(conn, self.owner, mine)
        for p, c in cursors.items():
            if p in self.cursors:
                self.cursors[p] = max(self.cursors[p], c)

    def trim(self, conn: psycopg.Connection) -> int:
        """Delete feed rows the owned partitions' cursors have passed."""
        return feed.trim(conn) if self.epochs else 0

    def leave(self, conn: psycopg.Connection) -> None:
        """Stopping: save every owned partition's state and release them all."""
        self.give_back(conn, set(self.epochs))

