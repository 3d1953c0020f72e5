"""The rules service: detection engine, alert lifecycle, escalation, calendar rules and
notifications, with the threads and timers that drive them.

Threads:
- *worker*: the only thread that touches the engine. It takes telemetry batches (from its
  own MQTT subscription, or from the ingester through :meth:`RulesService.feed`), turns
  them into transitions and alerts, and runs the timers: engine tick (offline), escalation
  and late rescues, calendar rules, elevator refresh, rule-state persistence.
- *notifier*: drains the alert outbox: MQTT ``lift/{id}/alerts`` and webhook messages.
- *sender*: delivers webhook attempts that are due (a small pool of HTTP workers).
- *listener*: LISTENs on PostgreSQL so changes made by other processes (the API: acks,
  resolves, seals, maintenance) wake the right thread at once.

Standalone (``whistle rules``) messages are acknowledged to the broker only after the
transitions they caused are committed.
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

from core.domain import ElevatorLimits, Severity
from core.settings import Settings
from core.stream import Committed
from messaging.subscriber import Subscriber
from rules import calendar, escalation, lifecycle
from rules.housekeeping import Housekeeper
from rules.inbox import Inbox, Item
from rules.outbound import Outbound
from rules.policy import Policy, PolicyError
from storage import alerts, responsibility, rulestate
from storage.db import make_pool

log = structlog.get_logger(__name__)

OPEN_ALERTS = Gauge("whistle_alerts_open", "Alerts not resolved, by severity", ["severity"])
ENGINE_LAG = Gauge("whistle_rules_engine_lag_seconds",
                   "How long the last batch waited before the engine processed it")
JOB_ERRORS = Counter("whistle_rules_job_errors", "Failed runs of a rules job", ["job"])

RETRY_S = 1.0

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
        self._limits: dict[str, ElevatorLimits] = {}
        self.inbox = Inbox(limits=self._limits_of,
                           refresh=lambda: self._guard("refresh", self._refresh),
                           stopping=self._stop.is_set)
        self.pool: ConnectionPool | None = None
        self.engine: Any = None
        self.subscriber: Subscriber | None = None
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
        """Registry rows as engine infos; None if nothing changed since last time."""
        rows = rulestate.elevators(conn)
        infos = self._infos(rows)
        if self._elevators and list(self._elevators.values()) == infos:
            return None
        self._elevators = {r["id"]: info for r, info in zip(rows, infos, strict=True)}
        self._limits = {r["id"]: _limits(r) for r in rows}
        return infos

    # --- life cycle ---------------------------------------------------------------------
    def start(self, external_feed: bool = False) -> None:
        """Load state, start the threads; subscribe to MQTT unless fed by the ingester."""
        assert self.settings.database_url is not None, "the database URL is not set"
        self.pool = make_pool(self.settings.database_url, name="rules", max_size=10)
        with self.pool.connection() as conn:
            infos = self._load_elevators(conn) or []
            self.engine = self._make_engine(infos)
            blobs = rulestate.load(conn)
            if blobs:
                self.engine.restore(blobs)
            self.engine.sync_open(alerts.open_keys(conn))
        if self.rules_file is not None and self._engine_factory is None:
            from rules.thresholds import Watcher

            # Polled by the worker (so reloads happen on the engine's thread).
            self._watcher = Watcher(Path(self.rules_file), self._reload)
        log.info("rules engine ready", elevators=len(infos), restored=len(blobs))
        self.outbound = Outbound(self.settings, self.pool, self.policy, clock=self.clock,
                                 guard=self._guard, mqtt=self._use_mqtt,
                                 on_manual_resolve=self._want_sync.set,
                                 on_registry_change=self._registry_changed)
        self.outbound.start()
        if self.settings.database_url is not None and self._engine_factory is None:
            self.housekeeper = Housekeeper(self.settings)
            self.housekeeper.start()
        self._worker = threading.Thread(target=self._work, name="whistle-rules-worker",
                                        daemon=True)
        self._worker.start()
        if not external_feed and self._use_mqtt:
            self.subscriber = Subscriber(
                self.settings, self.inbox.on_inbound,
                client_id=f"{self.settings.mqtt_client_id}-rules", share_group="")
            self.subscriber.start()
        self.started.set()
        log.info("rules service started", external_feed=external_feed)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once started, listening, and subscribed (when standalone)."""
        deadline = time.monotonic() + timeout
        if not self.started.wait(timeout):
            return False
        assert self.outbound is not None
        if not self.outbound.listening.wait(max(0.0, deadline - time.monotonic())):
            return False
        if self.subscriber is not None:
            return self.subscriber.subscribed.wait(max(0.0, deadline - time.monotonic()))
        return True

    def stop(self) -> None:
        """Stop receiving, finish what was handed over, save the rule state, close."""
        if self.subscriber is not None:
            self.subscriber.stop()  # unacknowledged messages stay at the broker
        self._stop.set()
        self.inbox.wake()
        if self._worker is not None:
            self._worker.join(15)
        if self.engine is not None and self.pool is not None:
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

    def _limits_of(self, elevator_id: str) -> ElevatorLimits | None:
        return self._limits.get(elevator_id)

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
        infos = self._infos(rows)
        for r, info in zip(rows, infos, strict=True):
            self._elevators[r["id"]] = info
            self._limits[r["id"]] = _limits(r)
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
                # Handed-over batches are processed; MQTT ones will be redelivered.
                committed = [i for i in items if i[0] == "committed"]
                if committed:
                    self._guard("process", functools.partial(self._process, committed))
                if not items:
                    return
                continue
            if items:
                self._guard("process", functools.partial(self._process, items))
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

    def _apply(self, transitions: Iterable[Any]) -> None:
        """Write transitions, retrying while the database is unavailable."""
        transitions = list(transitions)
        if not transitions:
            return
        assert self.pool is not None
        while True:
            try:
                with self.pool.connection() as conn:
                    lifecycle.apply(conn, transitions=transitions, now=_now_dt(self.clock()),
                                    rescue=self.policy.rescue, cases=self.policy.cases)
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
        committed, inbound = self.inbox.batch(items)
        oldest = min((i[2] for i in items if len(i) > 2), default=None)
        if committed.messages or committed.states:
            self._apply(self.engine.process(committed, int(self.clock() * 1_000_000)))
        if oldest is not None:
            ENGINE_LAG.set(time.monotonic() - oldest)
        if inbound and self.subscriber is not None:
            self.subscriber.ack(inbound)

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
            changed = calendar.check(conn, policy=self.policy, now=_now_dt(self.clock()))
        if changed:
            self._wake_notifier()

    def _persist(self, *, only_dirty: bool) -> None:
        assert self.pool is not None
        blobs = self.engine.snapshot(only_dirty=only_dirty)
        if blobs:
            with self.pool.connection() as conn:
                rulestate.save(conn, blobs=blobs, now=_now_dt(self.clock()))

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
        if infos is not None:
            self.engine.set_elevators(infos)
        for severity in Severity:
            OPEN_ALERTS.labels(severity.value).set(counts.get(severity.value, 0))

    def _sync(self) -> None:
        assert self.pool is not None
        with self.pool.connection() as conn:
            self.engine.sync_open(alerts.open_keys(conn))


def _limits(row: dict[str, Any]) -> ElevatorLimits:
    return ElevatorLimits(row["pk"], float(row["rated_load_kg"]), float(row["travel_m"]),
                          tuple(float(x) for x in row["landings_m"]),
                          bool(row.get("decommissioned")))
