"""The real API under uvicorn in a thread, on a free port, for every API test."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import uvicorn

from api.app import create_app
from tests.api.builders import World, standard_world
from tests.helpers import wait_until
from whistle.embedded.ports import free_port
from whistle.settings import Settings


class ApiThread:
    """`create_app(settings)` served by uvicorn in a daemon thread until stop()."""

    def __init__(self, settings: Settings) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        app = create_app(settings.model_copy(update={"api_port": port}))
        # Open SSE streams would hold a graceful shutdown forever: cut them after 1 s.
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                access_log=False, lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    def start(self) -> str:
        """Serve, and wait until /healthz answers; the base URL."""
        self.thread.start()

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 20, message="the API to answer /healthz")
        return self.url

    def stop(self) -> None:
        """Shut down and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture()
def api_server(settings: Settings, db: psycopg.Connection) -> Iterator[str]:
    """Base URL (no /api/v1) of the API on an empty, migrated database."""
    server = ApiThread(settings)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture()
def world(api_server: str, settings: Settings, db: psycopg.Connection) -> Iterator[World]:
    """The standard world of tests.api.builders (orgs with tokens, sites, elevators)."""
    assert settings.admin_token is not None
    w = standard_world(api_server, settings.admin_token, db)
    try:
        yield w
    finally:
        w.close()
