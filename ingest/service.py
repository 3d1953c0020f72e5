"""The ingester as a whole: a paho subscriber feeding the batching writer."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from core.settings import Settings
from core.stream import Committed
from ingest import metrics
from ingest.devices import DeviceLogins
from ingest.pipeline import Pipeline
from messaging import brokerinfo
from messaging.subscriber import Inbound, Subscriber

log = structlog.get_logger(__name__)


class Ingester:
    """MQTT in, PostgreSQL out, acknowledged after commit."""

    def __init__(self, settings: Settings,
                 on_commit: Callable[[Committed], None] | None = None) -> None:
        self.settings = settings
        self.pipeline = Pipeline(settings, ack=self._ack, on_commit=on_commit)
        self.subscriber = Subscriber(settings, self.pipeline.handoff)
        self.device_logins = (DeviceLogins(settings) if settings.mqtt_device_auth == "on"
                              else None)

    def _ack(self, items: list[Inbound]) -> int:
        return self.subscriber.ack(items)

    def start(self) -> None:
        """Start writing, then start receiving."""
        if self.subscriber.share_group:
            _check_shared_subscriptions(self.settings)
        self.pipeline.start()
        self.subscriber.start()
        metrics.MQTT_UP.set_function(lambda: float(self.subscriber.connected.is_set()))
        if self.device_logins is not None:
            self.device_logins.start()

    def stop(self) -> None:
        """Disconnect first (unacknowledged messages stay at the broker), then drain."""
        if self.device_logins is not None:
            self.device_logins.stop()
        self.subscriber.stop()
        self.pipeline.stop()
        log.info("ingester stopped", committed_messages=self.pipeline.committed_messages)

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the subscriptions are in place."""
        return self.subscriber.subscribed.wait(timeout)


def _check_shared_subscriptions(settings: Settings) -> None:
    """Say in the log whether the broker keeps shared subscriptions across its restarts."""
    safe, note = brokerinfo.shared_subscription_note(brokerinfo.version(settings.broker))
    if safe:
        log.info(note, group=settings.mqtt_share_group)
    else:
        log.warning(note, group=settings.mqtt_share_group)
