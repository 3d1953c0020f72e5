"""The service assembled: ingester, rules engine and API in one process, wired one way.

`whistle serve`, `whistle demo` and the end-to-end test all run :class:`Whistle`; the
standalone commands (`whistle ingest`, `whistle rules`, `whistle api`) run one part each.
Under one process the rules engine reads the ingester's committed batches (the samples
that were new), so it sees exactly what was stored.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

import structlog

from core.settings import Settings
from whistle.embedded.ports import free_port

if TYPE_CHECKING:  # each part is imported only when asked for: `whistle ingest` stays
    import uvicorn  # free of the API and the rules engine (about 80 MB of RSS)

    from ingest import Ingester
    from rules import RulesService

log = structlog.get_logger(__name__)

__all__ = ["Whistle"]

READY_TIMEOUT_S = 30.0


class Whistle:
    """`start()` the parts asked for, `stop()` them in the right order (or use ``with``).

    ``settings`` must point at a database and a broker that are up (see
    :func:`whistle.runtime.services`). An ``api_port`` of 0 picks a free port.
    """

    def __init__(self, settings: Settings, *, ingest: bool = True, rules: bool = True,
                 api: bool = True) -> None:
        if api and settings.api_port == 0:
            settings = settings.model_copy(update={"api_port": free_port()})
        self.settings = settings
        self.rules: RulesService | None = None
        self.ingester: Ingester | None = None
        if rules:
            from rules import RulesService

            self.rules = RulesService(settings)
        if ingest:
            from ingest import Ingester

            self.ingester = Ingester(settings,
                                     on_commit=self.rules.feed if self.rules else None)
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        if api:
            import uvicorn

            from api import create_app

            probes = {}
            if self.ingester is not None:
                subscriber = self.ingester.subscriber
                probes["mqtt"] = lambda: "up" if subscriber.connected.is_set() else "down"
            config = uvicorn.Config(
                create_app(settings, health_probes=probes), host=settings.api_host,
                port=settings.api_port,
                log_config=None, access_log=False, lifespan="on",
                # the client address is the peer's; X-Forwarded-For is read by the app,
                # only from WHISTLE_TRUSTED_PROXIES (api/public/client.py)
                proxy_headers=False,
                # open SSE streams must not hold a shutdown forever
                timeout_graceful_shutdown=2)
            self.server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        """Base URL of the API and dashboard (no /api/v1)."""
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def start(self, timeout: float = READY_TIMEOUT_S) -> Whistle:
        """Start rules, then the ingester (which feeds them), then the API; wait until
        the ingester is subscribed and the API listens."""
        deadline = time.monotonic() + timeout
        if self.rules is not None:
            self.rules.start(external_feed=self.ingester is not None)
        if self.ingester is not None:
            self.ingester.start()
        if self.server is not None:
            self._thread = threading.Thread(target=self.server.run, name="whistle-api",
                                            daemon=True)
            self._thread.start()
            while not self.server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the API did not start on {self.url}; see the log")
                time.sleep(0.02)
            log.info("API listening", url=f"{self.url}/")
        if self.ingester is not None and not self.ingester.wait_subscribed(
                max(0.0, deadline - time.monotonic())):
            log.warning("the ingester is not subscribed yet; it keeps trying")
        return self

    @property
    def alive(self) -> bool:
        """False once the API thread has ended (it fails or was stopped)."""
        return self._thread is None or self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving, then stop receiving (unacknowledged messages stay at the broker),
        then let the rules finish what was handed over."""
        if self.server is not None and self._thread is not None:
            self.server.should_exit = True
            self._thread.join(15)
        if self.ingester is not None:
            self.ingester.stop()
        if self.rules is not None:
            self.rules.stop()

    def __enter__(self) -> Whistle:
        return self.start()

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.stop()
