"""The rules service: detection engine, alert lifecycle, escalation, calendar rules and
notifications, with the threads and timers that drive them.

Threads:
- *worker*: the only thread that touches the engine. It takes telemetry batches (from the
  ingester through :meth:`RulesService.feed` in one process, or from the rules feed of the
  partitions it owns when standalone), turns them into transitions and alerts, and runs
  the timers: engine tick (offline), escalation and late rescues, calendar rules, elevator
  refresh, rule-state persistence.
- *notifier*: drains the alert outbox: MQTT ``lift/{id}/alerts`` and webhook messages.
- *sender*: delivers webhook attempts that are due (a small pool of HTTP workers).
- *listener*: LISTENs on PostgreSQL so changes made by other processes (the API: acks,
  resolves, seals, maintenance; new rows in the feed) wake the right thread at once.
- *leases* (standalone only): the partitions this process owns (:mod:`rules.partitions`).

Standalone (``whistle rules``, any number of them) each process evaluates the elevators of
the partitions it leases, and a feed row's cursor moves in the fenced transaction that
writes the alerts it caused. Escalation, case timers and the outbox are shared safely by
every process (``FOR UPDATE SKIP LOCKED``); the engine's timers and the calendar rules run
for owned elevators only.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import structlog
from prometheus_client import Counter, Gauge
from psycopg_pool import ConnectionPool

from core.domain import Severity
from core.partitions import PARTITIONS, partition_of
from core.settings import Settings
from core.stream import Committed
from rules import calendar, escalation, lifecycle
from rules.housekeeping import Housekeeper
from rules.inbox import Inbox, Item
from rules.outbound import Outbound
from rules.partitions import Leases, Owned
from rules.policy import Policy, PolicyError
from storage import alerts, responsibility, rulestate
from storage.db import make_pool

log = structlog.get_logger(__name__)

OPEN_ALERTS = Gauge("whistle_alerts_open", "Alerts not resolved, by severity", ["severity"])
ENGINE_LAG = Gauge("whistle_rules_engine_lag_seconds",
                   "How long the last batch waited before the engine processed it")
JOB_ERRORS = Counter("whistle_rules_job_errors", "Failed runs of a rules job", ["job"])

RETRY_S = 1.0
FEED_POLL_S = 1.0  # the feed is read at least this often without a NOTIFY

EngineFactory = Callable[[list[Any]], Any]


def _now_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class RulesService:
    """Alerts from telemetry: `start(external_feed=...)`, `feed(committed)`, `stop()`."""

    def __init__(self, settings: Settings, *, policy: Policy | None = None,
                 clock: Callable[[], float] = time.time,
                 rules_file: Path | None = None,
                 engine_factory: EngineFactory | None = None,
                 mqtt: bool = True) -> None:
        self.settings = settings
        self.rules_file = rules_file if rules_file is not None else getattr(
            settings, "rules_file", None)
        self.policy = policy or escalation.load_policy(self.rules_file)
        self.clock = clock
        self._engine_factory = engine_factory
        self._use_mqtt = mqtt
        self._stop = threading.Event()
        self._want_sync = threading.Event()
        self._want_refresh = threading.Event()
        self._changed_lock = threading.Lock()
        self._changed: dict[int, set[str]] = {}  # elevator pk -> registry changes to load
        self._worker: threading.Thread | None = None
        self._elevators: dict[str, Any] = {}  # elevator id -> engine info
        self.inbox = Inbox(stopping=self._stop.is_set)
        self.pool: ConnectionPool | None = None
        self.engine: Any = None
        self.leases: Leases | None = None  # standalone: partitions leased
        self.owned: Owned | None = None
        self._want_feed = threading.Event()
        self._fed_at = 0.0
        self.partitions_ready = threading.Event()
        self.outbound: Outbound | None = None
        self.housekeeper: Housekeeper | None = None
        self.started = threading.Event()
        self._watcher: Any = None

    # --- the engine ---------------------------------------------------------------------
    def _make_engine(self, infos: list[Any]) -> Any:
        if self._engine_factory is not None:
            return self._engine_factory(infos)
        from rules.engine import Engine
        from rules.thresholds import load

        return Engine(load(self.rules_file), infos)

    def _infos(self, rows: list[dict[str, Any]]) -> list[Any]:
        if self._engine_factory is not None:
            return rows
        from rules.engine import ElevatorInfo

        return [ElevatorInfo(pk=r["pk"], id=r["id"], model=r["model"],
                             rated_speed_mps=float(r["rated_speed_mps"]),
                             rated_load_kg=float(r["rated_load_kg"]),
                             landings_m=tuple(float(x) for x in r["landings_m"]),
                             sealed=bool(r["sealed"]),
                             decommissioned=bool(r.get("decommissioned"))) for r in rows]

    def _load_elevators(self, conn: psycopg.Connection) -> list[Any] | None:
        """Registry rows (of the partitions owned, standalone) as engine infos; None if
        nothing changed since last time."""
        rows = rulestate.elevators(conn, partitions=None if self.owned is None else (
            PARTITIONS, sorted(self.owned.epochs)))
        infos = self._infos(rows)
        if self._elevators and list(self._elevators.values()) == infos:
            return None
        self._elevators = {r["id"]: info for r, info in zip(rows, infos, strict=True)}
        return infos

    # --- life cycle ---------------------------------------------------------------------
    def start(self, external_feed: bool = False) -> None:
        """Load state, start the threads. Fed by the ingester, this process evaluates every
        elevator; standalone, those of the partitions it leases, read from the feed."""
        assert self.settings.database_url is not None, "the database URL is not set"
        self.pool = make_pool(self.settings.database_url, name="rules", max_size=10)
        blobs: dict[int, bytes] = {}
        with self.pool.connection() as conn:
            if external_feed:
                infos = self._load_elevators(conn) or []
                self.engine = self._make_engine(infos)
                blobs = rulestate.load(conn)
                if blobs:
                    self.engine.restore(blobs)
                self.engine.sync_open(alerts.open_keys(conn))
            else:  # elevators come with the partitions this process leases
                infos = []
                self.engine = self._make_engine(infos)
                self.leases = Leases(self.settings.database_url,
                                     lease_s=self.settings.rules_lease_s,
                                     on_change=self.inbox.wake)
                self.owned = Owned(self.leases, engine=lambda: self.engine, infos=self._infos)
        if self.rules_file is not None and self._engine_factory is None:
            from rules.thresholds import Watcher

            # Polled by the worker (so reloads happen on the engine's thread).
            self._watcher = Watcher(Path(self.rules_file), self._reload)
        log.info("rules engine ready", elevators=len(infos), restored=len(blobs))
        self.outbound = Outbound(self.settings, self.pool, self.policy, clock=self.clock,
                                 guard=self._guard, mqtt=self._use_mqtt,
                                 on_manual_resolve=self._want_sync.set,
                                 on_registry_change=self._registry_changed,
                                 on_feed=None if external_feed else self._feed_arrived)
        self.outbound.start()
        if self.settings.database_url is not None and self._engine_factory is None:
            self.housekeeper = Housekeeper(self.settings)
            self.housekeeper.start()
        self._worker = threading.Thread(target=self._work, name="whistle-rules-worker",
                                        daemon=True)
        self._worker.start()
        if self.leases is not None:
            self.leases.start()
        self.started.set()
        log.info("rules service started", external_feed=external_feed)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once started, listening, and (standalone) past a first round of leases."""
        deadline = time.monotonic() + timeout
        if not self.started.wait(timeout):
            return False
        assert self.outbound is not None
        if not self.outbound.listening.wait(max(0.0, deadline - time.monotonic())):
            return False
        if self.leases is not None:
            return self.partitions_ready.wait(max(0.0, deadline - time.monotonic()))
        return True

    def stop(self) -> None:
        """Finish what was handed over, save the rule state (and give the partitions back
        at once, standalone), close."""
        if self.leases is not None:
            self.leases.stop()
        self._stop.set()
        self.inbox.wake()
        if self._worker is not None:
            self._worker.join(15)
        if self.owned is not None and self.pool is not None:
            owned, pool = self.owned, self.pool

            def leave() -> None:
                with pool.connection() as conn:
                    owned.leave(conn)

            self._guard("persist", leave)
            assert self.leases is not None
            self._guard("leave", self.leases.leave)
        elif self.engine is not None and self.pool is not None:
            self._guard("persist", lambda: self._persist(only_dirty=False))
        if self.outbound is not None:
            self.outbound.stop()
        if self.housekeeper is not None:
            self.housekeeper.stop()
        if self.pool is not None:
            self.pool.close()
        log.info("rules service stopped")

    # --- input --------------------------------------------------------------------------
    def feed(self, committed: Committed) -> None:
        """Take a committed batch from the ingester (see :meth:`rules.inbox.Inbox.feed`)."""
        self.inbox.feed(committed)

    def _feed_arrived(self) -> None:
        self._want_feed.set()
        self.inbox.wake()

    def _registry_changed(self, payload: dict[str, Any]) -> None:
        """A NOTIFY of the registry: load the elevator it names (or everything)."""
        pk = payload.get("elevator_pk")
        if isinstance(pk, int):
            with self._changed_lock:
                self._changed.setdefault(pk, set()).add(str(payload.get("change", "")))
        else:
            self._want_refresh.set()
        self.inbox.wake()

    def _refresh_changed(self) -> None:
        """Load only the elevators named by registry notifications since the last call."""
        assert self.pool is not None
        with self._changed_lock:
            changed, self._changed = self._changed, {}
        with self.pool.connection() as conn:
            rows = rulestate.elevators(conn, sorted(changed))
        if self.owned is not None:
            rows = [r for r in rows if self.owned.owns(r["pk"])]
        infos = self._infos(rows)
        for r, info in zip(rows, infos, strict=True):
            self._elevators[r["id"]] = info
        if infos:
            self.engine.set_elevators(infos)
        if any(kinds - {"registered"} for kinds in changed.values()):
            self._calendar()  # inspections, maintenance, handovers move calendar rules

    # --- the worker ---------------------------------------------------------------------
    def _work(self) -> None:
        timers = self.policy.timers
        jobs: list[tuple[str, float, Callable[[], None]]] = [
            ("tick", timers.tick_s, self._tick),
            ("escalate", timers.escalate_s, self._escalate),
            ("calendar", timers.calendar_s, self._calendar),
            ("persist", timers.persist_s, lambda: self._persist(only_dirty=True)),
            ("refresh", timers.refresh_s, self._refresh),
        ]
        start = time.monotonic()
        # start() has just loaded the registry and saved nothing yet: those jobs wait a period
        due = {name: start + (every if name in ("persist", "tick", "refresh") else 0.0)
               for name, every, _ in jobs}
        while True:
            now = time.monotonic()
            wait = min(due.values()) - now
            items = self.inbox.take(0.0 if self._stop.is_set() else min(wait, 0.5))
            if self._stop.is_set():
                # Handed-over batches are processed; feed rows wait for the next owner.
                committed = [i for i in items if i[0] == "committed"]
                if committed:
                    self._guard("process", functools.partial(self._process, committed))
                if not items:
                    return
                continue
            if items:
                self._guard("process", functools.partial(self._process, items))
            if self.owned is not None:
                self._guard("partitions", self._partitions)
            if self._want_sync.is_set():
                self._want_sync.clear()
                self._guard("sync", self._sync)
            if self._changed:
                self._guard("refresh", self._refresh_changed)
            if self._want_refresh.is_set():
                self._want_refresh.clear()
                self._guard("refresh", self._refresh)
                self._guard("calendar", self._calendar)
            now = time.monotonic()
            for name, every, job in jobs:
                if now >= due[name]:
                    due[name] = now + every
                    self._guard(name, job)

    def _guard(self, name: str, job: Callable[[], Any]) -> None:
        try:
            job()
        except Exception:
            JOB_ERRORS.labels(name).inc()
            log.exception("rules job failed", job=name)

    def _apply(self, transitions: Iterable[Any], cursors: dict[int, int] | None = None) -> None:
        """Write transitions (fenced, with the feed cursors they go with, standalone),
        retrying while the database is unavailable."""
        transitions = list(transitions)
        if not transitions and not cursors:
            return
        assert self.pool is not None
        while True:
            try:
                with self.pool.connection() as conn:
                    write = functools.partial(
                        lifecycle.apply, conn, now=_now_dt(self.clock()),
                        rescue=self.policy.rescue, cases=self.policy.cases)
                    if self.owned is not None:
                        self.owned.write(conn, transitions, cursors or {}, write)
                    else:
                        write(transitions=transitions)
                break
            except psycopg.OperationalError as exc:
                if self._stop.is_set():
                    raise
                log.warning("cannot write alerts; retrying", error=str(exc))
                self._stop.wait(RETRY_S)
        self._wake_notifier()

    def _wake_notifier(self) -> None:
        if self.outbound is not None:
            self.outbound.wake_notifier.set()

    def _process(self, items: list[Item]) -> None:
        committed = self.inbox.batch(items)
        oldest = min((i[2] for i in items if len(i) > 2), default=None)
        if committed.messages or committed.states:
            self._apply(self.engine.process(committed, int(self.clock() * 1_000_000)))
        if oldest is not None:
            ENGINE_LAG.set(time.monotonic() - oldest)

    # --- standalone: partitions and their feed ------------------------------------------
    def _partitions(self) -> None:
        """Adopt, give back, forget partitions as the leases say; then read the feed."""
        assert self.owned is not None and self.leases is not None and self.pool is not None
        ready = self.leases.ready.is_set()
        if self.owned.step(self.pool.connection):
            self._want_feed.set()
        if ready:
            self.partitions_ready.set()
        if not self._want_feed.is_set() and time.monotonic() - self._fed_at < FEED_POLL_S:
            return
        self._want_feed.clear()
        self._fed_at = time.monotonic()
        for _ in range(20):  # then the timers get their turn
            got = self.owned.next_batch(self.pool.connection)
            if got is None:
                return
            batch, cursors = got
            try:  # (an empty batch, when the rows held only other partitions, costs nothing)
                transitions = self.engine.process(batch, int(self.clock() * 1_000_000))
            except Exception:  # a bug must not hold the partitions back forever
                JOB_ERRORS.labels("process").inc()
                log.exception("feed rows not evaluated; skipping them", cursors=cursors)
                transitions = []
            self._apply(transitions, cursors)
        self._want_feed.set()

    def _tick(self) -> None:
        self._apply(self.engine.tick(int(self.clock() * 1_000_000)))

    def _escalate(self) -> None:
        assert self.pool is not None
        now = _now_dt(self.clock())
        with self.pool.connection() as conn:
            steps = escalation.escalate_due(conn, policy=self.policy, now=now)
            late = escalation.flag_late_rescues(conn, now=now)
            climbed = escalation.cases_due(conn, policy=self.policy, now=now)
            # scheduled ends of service take effect on time (responsibility gap cases)
            climbed += [{"case_id": c} for c in responsibility.apply_due(
                conn, now=now, limits=self.policy.cases)]
        if steps or late or climbed:
            self._wake_notifier()

    def _calendar(self) -> None:
        assert self.pool is not None
        with self.pool.connection() as conn:
            if self.owned is not None:  # only for the elevators of the partitions held
                with self.owned.fenced(conn) as allowed:
                    changed = calendar.check(
                        conn, policy=self.policy, now=_now_dt(self.clock()),
                        keep=lambda pk: partition_of(pk) in allowed)
            else:
                changed = calendar.check(conn, policy=self.policy, now=_now_dt(self.clock()))
        if changed:
            self._wake_notifier()

    def _persist(self, *, only_dirty: bool) -> None:
        assert self.pool is not None
        blobs = self.engine.snapshot(only_dirty=only_dirty)
        if not blobs:
            return
        with self.pool.connection() as conn:
            if self.owned is None:
                rulestate.save(conn, blobs=blobs, now=_now_dt(self.clock()))
                return
            with self.owned.fenced(conn) as allowed:  # never over a new owner's state
                rulestate.save(conn, blobs={pk: b for pk, b in blobs.items()
                                            if partition_of(pk) in allowed},
                               now=_now_dt(self.clock()))

    def _reload(self, config: Any) -> None:
        """A new version of the rules file: thresholds now, escalation delays too."""
        self.engine.reload(config)
        try:
            policy = escalation.load_policy(self.rules_file)
        except PolicyError as exc:
            log.error("[escalation] refused; keeping the previous policy", error=str(exc))
            return
        # Timers, storm control and webhook retries keep their values until a restart.
        self.policy = replace(self.policy, step_s=policy.step_s,
                              kind_step_s=policy.kind_step_s, max_level=policy.max_level,
                              rescue=policy.rescue, cases=policy.cases,
                              maintenance_every_s=policy.maintenance_every_s)
        log.info("rules file reloaded", path=str(self.rules_file))

    def _refresh(self) -> None:
        assert self.pool is not None
        if self._watcher is not None:
            self._watcher.poll()
        with self.pool.connection() as conn:
            infos = self._load_elevators(conn)
            counts = dict(alerts.open_counts(conn))
            if self.owned is not None:
                self.owned.trim(conn)  # feed rows every owner has passed
        if infos is not None:
            self.engine.set_elevators(infos)
        for severity in Severity:
            OPEN_ALERTS.labels(severity.value).set(counts.get(severity.value, 0))

    def _sync(self) -> None:
        assert self.pool is not None
        with self.pool.connection() as conn:
            self.engine.sync_open(alerts.open_keys(conn))

