"""Liveness for load balancers and Prometheus metrics for operators."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.deps import AdminDep
from storage import registry

router = APIRouter(tags=["operations"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise; no token needed."""
    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        db = "up"
    except (psycopg.Error, TimeoutError, OSError) as exc:
        db = f"down: {type(exc).__name__}"
    body: dict[str, Any] = {"status": "ok" if db == "up" else "degraded", "database": db}
    for name, probe in request.app.state.health_probes.items():
        body[name] = probe()
    return JSONResponse(body, status_code=200 if db == "up" else 503)


class StoredCounts(Collector):
    """Figures read from the database at scrape time (shared by every Whistle process)."""

    def __init__(self, request: Request) -> None:
        self.pool = request.app.state.pool

    def collect(self):  # type: ignore[no-untyped-def]
        """Stored rejects by reason."""
        rejects = GaugeMetricFamily("whistle_rejects_stored",
                                    "Rejected messages kept in the database, by reason",
                                    labels=["reason"])
        with self.pool.connection() as conn:
            for reason, n in registry.reject_counts(conn):
                rejects.add_metric([reason], n)
        yield rejects


@router.get("/metrics")
def metrics(request: Request, _admin: AdminDep) -> Response:
    """Prometheus text format: this process's counters plus stored figures."""
    stored = CollectorRegistry()
    stored.register(StoredCounts(request))
    return Response(generate_latest(REGISTRY) + generate_latest(stored),
                    media_type=CONTENT_TYPE)
