"""Serving the app with uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
import uvicorn

from api.app import create_app
from core.settings import Settings

log = structlog.get_logger(__name__)


def run_api(settings: Settings, *, health_probes: dict[str, Callable[[], Any]] | None = None
            ) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles the signals and shuts down cleanly)."""
    app = create_app(settings, health_probes=health_probes)
    config = uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                            log_config=None, access_log=False, lifespan="on",
                            # open SSE streams must not hold a shutdown forever
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    log.info("API listening", url=f"http://{settings.api_host}:{settings.api_port}/")
    server.run()
