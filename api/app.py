"""The FastAPI application: one function builds it from settings, one file maps every URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from psycopg_pool import ConnectionPool

from api import dashboard, errors, guards, public
from api.routes import (
    alerts,
    cases,
    devices,
    duty_report,
    elevators,
    health,
    imports,
    ingest,
    orgs,
    people,
    records,
    reports,
    rosters,
    signs,
    silences,
    sites,
    webhooks,
)
from core.settings import Settings
from storage.db import make_pool

PREFIX = "/api/v1"


def create_app(settings: Settings, *, pool: ConnectionPool | None = None,
               health_probes: dict[str, Callable[[], Any]] | None = None) -> FastAPI:
    """Build the app; it opens (and closes) its own pool unless one is given."""
    own_pool = pool is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if own_pool:
            assert settings.database_url is not None
            app.state.pool = make_pool(
                settings.database_url, name="api", max_size=16, autocommit=True,
                statement_timeout_s=settings.api_statement_timeout_s)
        try:
            yield
        finally:
            if own_pool:
                app.state.pool.close()

    app = FastAPI(title="Whistle", version="1.0",
                  description="Elevator safety monitoring: the HTTP API of CONTRACT.md.",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = pool
    app.state.health_probes = health_probes or {}
    errors.install(app)
    # Outermost first refused: an oversized body (413), then a cross-site cookie write (403).
    app.add_middleware(guards.CookieOrigin)
    app.add_middleware(guards.BodyLimit)
    api = APIRouter(prefix=PREFIX)
    for module in (orgs, people, sites, imports, elevators, ingest, health, alerts, cases,
                   records, webhooks, reports, duty_report, signs, devices, rosters, silences):
        api.include_router(module.router)
    api.include_router(public.api_router)
    app.include_router(api)
    # /healthz and /metrics also at the root, where load balancers and Prometheus look.
    app.include_router(health.router)
    # The dashboard's pages at the root, its styles and scripts under /static.
    app.include_router(dashboard.router)
    # The residents' pages behind the signs' QR codes (/r/...), no token.
    app.include_router(public.page_router)
    app.mount("/static", dashboard.static_files(), name="static")
    return app
