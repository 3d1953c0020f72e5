"""Alerts: list, one with its audit trail, and reporting for duty (ack, arrive, resolve)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import Field

from api.deps import ConnDep, PageDep, PrincipalDep, require
from api.routes import stream
from api.routes.cases import arrive_for_alert, duty_for_alert
from api.schemas import Body as BodyModel
from core.domain import EXTENSION_KINDS, AlertKind, OrgKind, Severity
from storage import alerts
from storage.alerts import changes
from storage.errors import Invalid

router = APIRouter(tags=["alerts"])
# /alerts/stream must be matched before /alerts/{alert_id}.
router.include_router(stream.router)

Note = Annotated[str, Field(min_length=1, max_length=4000)]
# Who may resolve a critical alert by hand (besides an admin).
CRITICAL_RESOLVERS = (OrgKind.PROPERTY, OrgKind.MAINTENANCE, OrgKind.SUPERVISION)

# Kinds beyond CONTRACT section 2 that the detection engine raises (an extension the
# contract allows); TODO: move next to AlertKind in core.domain.
KINDS = tuple(k.value for k in AlertKind) + EXTENSION_KINDS


class AlertState(StrEnum):
    """The states of an alert."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AckBody(BodyModel):
    """POST /alerts/{id}/ack and /arrive (the body is optional)."""

    note: Note | None = None


class ResolveBody(BodyModel):
    """POST /alerts/{id}/resolve: what was done."""

    note: Note


@router.get("/alerts")
def list_alerts(conn: ConnDep, principal: PrincipalDep, page: PageDep,
                state: AlertState | None = None,
                elevator_id: Annotated[str | None, Query(max_length=64)] = None,
                kind: str | None = None, severity: Severity | None = None,
                late: Annotated[bool | None, Query(
                    description="rescues whose arrival exceeded the limit (or still open "
                                "past it)")] = None,
                site_id: int | None = None) -> list[dict[str, Any]]:
    """Visible alerts, newest first."""
    if kind is not None and kind not in KINDS:
        raise Invalid("kind", f"unknown alert kind {kind!r}; known: {', '.join(KINDS)}")
    return alerts.list_visible(
        conn, principal=principal, limit=page.limit, offset=page.offset,
        state=state.value if state else None, elevator_id=elevator_id,
        kind=kind, severity=severity.value if severity else None,
        late=late, site_id=site_id)


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: int, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    """One alert with its audit trail (`events`, oldest first)."""
    row = alerts.get_visible(conn, principal=principal, alert_id=alert_id)
    return {**row, "events": alerts.events(conn, alert_id=alert_id)}


@router.post("/alerts/{alert_id}/ack")
def acknowledge(alert_id: int, conn: ConnDep, principal: PrincipalDep,
                body: AckBody | None = Body(default=None)) -> dict[str, Any]:
    """Report for duty: stops the escalation (409 if acknowledged or resolved already), and
    reports for duty on the alert's case for the caller's organization."""
    with conn.transaction():  # the check and the change commit together, before the reply
        alerts.get_visible(conn, principal=principal, alert_id=alert_id)
        changes.acknowledge(conn, alert_id=alert_id, actor=principal.actor,
                            org_id=principal.org_id, note=body.note if body else None)
        duty_for_alert(conn, principal, alert_id, body.note if body else None)
    return alerts.get(conn, alert_id=alert_id)


@router.post("/alerts/{alert_id}/arrive")
def arrive(alert_id: int, conn: ConnDep, principal: PrincipalDep,
           body: AckBody | None = Body(default=None)) -> dict[str, Any]:
    """Arrived on site: stops the rescue clock (acknowledges too if nobody had); on the
    alert's case, the caller's organization reports for duty and arrives."""
    with conn.transaction():
        alerts.get_visible(conn, principal=principal, alert_id=alert_id)
        changes.arrive(conn, alert_id=alert_id, actor=principal.actor,
                       org_id=principal.org_id, note=body.note if body else None)
        arrive_for_alert(conn, principal, alert_id, body.note if body else None)
    return alerts.get(conn, alert_id=alert_id)


@router.post("/alerts/{alert_id}/resolve")
def resolve(alert_id: int, body: ResolveBody, conn: ConnDep, principal: PrincipalDep
            ) -> dict[str, Any]:
    """Resolve by hand, saying what was done (409 if resolved already). A critical alert
    only by the property, maintenance and supervision organizations (and admins): the
    community, street and rescue offices report for duty and add notes instead."""
    with conn.transaction():
        row = alerts.get_visible(conn, principal=principal, alert_id=alert_id)
        if row["severity"] == Severity.CRITICAL:
            require(principal, *CRITICAL_RESOLVERS)
        changes.resolve(conn, alert_id=alert_id, actor=principal.actor,
                        org_id=principal.org_id, note=body.note)
    return alerts.get(conn, alert_id=alert_id)
