"""The rules service's outbound threads: the notifier (alert and case outboxes to MQTT
and webhook messages), the sender (webhook attempts that are due) and the listener
(PostgreSQL notifications of changes made by other processes: API acknowledgements and
resolves, case changes, seals, maintenance), each woken at once by what concerns it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import structlog
from psycopg_pool import ConnectionPool

from core.settings import Settings
from rules.notify.dispatch import BATCH as OUTBOX_BATCH
from rules.notify.dispatch import Notifier
from rules.notify.mqtt import AlertPublisher
from rules.notify.people import ChannelSender, Router
from rules.notify.webhooks import CLAIM_LIMIT, Sender
from rules.policy import Policy
from storage import outbox
from storage.cases import CASES_CHANNEL
from storage.db import connect
from storage.feed import FEED_CHANNEL

__all__ = ["Outbound"]

log = structlog.get_logger(__name__)

LISTEN_RECONNECT_S = 2.0

Guard = Callable[[str, Callable[[], Any]], None]


def base_url(settings: Settings) -> str:
    """Where the case pages are, for the links in messages to people."""
    if settings.public_url:
        return settings.public_url
    return f"http://{settings.api_host}:{settings.api_port}"


class Outbound:
    """Notifier, sender and listener threads; ``guard`` runs a job and logs its failure."""

    def __init__(self, settings: Settings, pool: ConnectionPool, policy: Policy, *,
                 clock: Callable[[], float], guard: Guard, mqtt: bool,
                 on_manual_resolve: Callable[[], None],
                 on_registry_change: Callable[[dict[str, Any]], None],
                 on_feed: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.on_feed = on_feed  # standalone: new rows in the rules feed
        self.policy = policy
        self.guard = guard
        self.on_registry_change = on_registry_change
        self.stop_event = threading.Event()
        self.wake_notifier = threading.Event()
        self.wake_sender = threading.Event()
        self.listening = threading.Event()
        self.publisher = AlertPublisher(settings) if mqtt else None
        self.notifier = Notifier(pool, policy, publisher=self.publisher, clock=clock,
                                 on_manual_resolve=on_manual_resolve,
                                 on_enqueued=self.wake_sender.set,
                                 people=Router(base_url=base_url(settings)))
        self.sender = Sender(pool, policy.webhooks, clock=clock,
                             allow_private=settings.webhook_allow_private)
        self.channels = ChannelSender(pool, settings, policy.channels, clock=clock,
                                      allow_private=settings.webhook_allow_private)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Connect the alert publisher and start the threads."""
        if self.publisher is not None:
            self.publisher.start()
        self.sender.release_interrupted()
        self.channels.release_interrupted()
        for name, target in (("notifier", self._notify_loop), ("sender", self._send_loop),
                             ("listener", self._listen_loop)):
            thread = threading.Thread(target=target, name=f"whistle-rules-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the threads, publish what is left in the outbox, disconnect."""
        self.stop_event.set()
        self.wake_notifier.set()
        self.wake_sender.set()
        for thread in self._threads:
            thread.join(15)
        self._threads.clear()
        self.guard("outbox", lambda: self.drain(force=True))
        self.sender.close()
        self.channels.close()
        if self.publisher is not None:
            self.publisher.stop()

    def drain(self, *, force: bool = False) -> None:
        """Publish every pending outbox row (and, with force, every held storm group)."""
        while self.notifier.run_once(force=force) >= OUTBOX_BATCH:
            pass

    def _notify_loop(self) -> None:
        every = self.policy.timers.outbox_s
        while not self.stop_event.is_set():
            self.wake_notifier.wait(every)
            self.wake_notifier.clear()
            if self.stop_event.is_set():
                return
            self.guard("outbox", self.drain)

    def _send_loop(self) -> None:
        every = self.policy.timers.webhooks_s

        def send_all() -> None:
            while self.sender.run_once() >= CLAIM_LIMIT and not self.stop_event.is_set():
                pass
            # people's channels (e-mail, robots, SMS): their own queue, retries, fallback
            while self.channels.run_once() >= CLAIM_LIMIT and not self.stop_event.is_set():
                pass

        while not self.stop_event.is_set():
            self.wake_sender.wait(every)
            self.wake_sender.clear()
            if self.stop_event.is_set():
                return
            self.guard("webhooks", send_all)

    def _listen_loop(self) -> None:
        """LISTEN for changes made elsewhere (API acks and resolves, case changes, seals,
        maintenance)."""
        assert self.settings.database_url is not None
        while not self.stop_event.is_set():
            try:
                with connect(self.settings.database_url, autocommit=True) as conn:
                    outbox.listen(conn, outbox.ALERTS_CHANNEL, CASES_CHANNEL,
                                  outbox.REGISTRY_CHANNEL,
                                  *([FEED_CHANNEL] if self.on_feed else []))
                    self.listening.set()
                    # Whatever happened while not listening is picked up by the timers.
                    while not self.stop_event.is_set():
                        for channel, payload in outbox.received(conn, timeout=0.5):
                            if channel in (outbox.ALERTS_CHANNEL, CASES_CHANNEL):
                                self.wake_notifier.set()
                            elif channel == outbox.REGISTRY_CHANNEL:
                                self.on_registry_change(payload)
                            elif channel == FEED_CHANNEL and self.on_feed is not None:
                                self.on_feed()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("LISTEN connection lost; reconnecting", error=str(exc))
                self.stop_event.wait(LISTEN_RECONNECT_S)
