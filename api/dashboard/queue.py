"""The alert queue (open and acknowledged alerts by severity and age) and one alert's page
with its audit trail; reporting for duty happens from both through the JSON API."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.dashboard.fleet import unresolved_by_elevator
from api.dashboard.web import PagePrincipal, PageRoute, render
from api.deps import ConnDep, SettingsDep
from core.chain import called_levels
from core.domain import Principal, severity_rank
from storage import alerts, registry, reports

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Row = dict[str, Any]
RECENTLY_RESOLVED = 10


def with_responsibility(conn: psycopg.Connection, rows: list[Row]) -> list[Row]:
    """Alerts with who was responsible when each happened and whom the chain has called."""
    if not rows:
        return []
    responsible = reports.responsible_at(conn, alert_ids=[a["id"] for a in rows])
    chains = alerts.chain(conn, elevator_ids=sorted({a["elevator_id"] for a in rows}))
    out = []
    for a in rows:
        levels = called_levels(a["escalation_level"])
        chain = chains.get(a["elevator_id"], [])
        out.append({**a, "responsible": responsible.get(a["id"], {}),
                    "chain": [{**o, "called": o["level"] in levels} for o in chain],
                    "called": [o for o in chain if o["level"] in levels]})
    return out


def _queue_order(a: Row) -> tuple[int, Any]:
    return severity_rank(a["severity"]), a["opened_at"]


@router.get("/alerts")
def queue(request: Request, conn: ConnDep, principal: PagePrincipal) -> Response:
    """Open and acknowledged alerts, most severe first, then longest waiting first."""
    pending = sorted((a for rows in unresolved_by_elevator(conn, principal).values()
                      for a in rows), key=_queue_order)
    resolved = alerts.list_visible(conn, principal=principal, limit=RECENTLY_RESOLVED,
                                   offset=0, state="resolved")
    return render(request, "queue.html", principal, nav="alerts",
                  alerts=with_responsibility(conn, pending),
                  resolved=with_responsibility(conn, resolved))


@router.get("/alerts/{alert_id}/row")
def queue_row(alert_id: int, request: Request, conn: ConnDep, principal: PagePrincipal
              ) -> Response:
    """One row of the queue, for live updates (204 once the alert is resolved)."""
    row = alerts.get_visible(conn, principal=principal, alert_id=alert_id)
    if row["state"] == "resolved":
        return Response(status_code=204)
    [alert] = with_responsibility(conn, [row])
    return render(request, "_alert_row.html", principal, a=alert)


def event_rows(conn: psycopg.Connection, alert_id: int) -> list[Row]:
    """The audit trail of an alert with the names of the organizations that acted."""
    events = alerts.events(conn, alert_id=alert_id)
    names = reports.org_names(conn, org_ids=[e["org_id"] for e in events if e["org_id"]])
    return [{**e, "org_name": names.get(e["org_id"])} for e in events]


def alert_with_trail(conn: psycopg.Connection, principal: Principal, alert_id: int) -> Row:
    """One visible alert with responsibility, chain and audit trail (NotFound otherwise)."""
    row = alerts.get_visible(conn, principal=principal, alert_id=alert_id)
    [alert] = with_responsibility(conn, [row])
    return {**alert, "events": event_rows(conn, alert_id)}


@router.get("/alerts/{alert_id}")
def alert_page(alert_id: int, request: Request, conn: ConnDep, settings: SettingsDep,
               principal: PagePrincipal) -> Response:
    """One alert: state, rescue clock, responsibility, the chain, the audit trail, actions."""
    alert = alert_with_trail(conn, principal, alert_id)
    elevator = registry.get_elevator(conn, principal=principal,
                                     elevator_id=alert["elevator_id"],
                                     offline_after_s=settings.offline_after_s)
    return render(request, "alert.html", principal, nav="alerts", a=alert,
                  elevator=elevator)
