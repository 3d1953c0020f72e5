"""Silences (issue 15): `POST/GET /silences`, `GET/DELETE /silences/{id}`.

A silence holds the notifications of the alerts of some kinds at one elevator or site
until it expires (a planned modernisation, say): the alerts are still raised, recorded,
escalated and counted. Never for a life-safety kind (422). Set by admins and by the
property, maintenance and supervision organizations that see the elevator or site (the
others that see it: 403; those that do not: 404); ended early by its owner organization,
the district's supervision or an admin. Every silence stays on the record and is visible
to the district's offices, supervision included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import Field, field_validator

from api.deps import ConnDep, PageDep, PrincipalDep, SettingsDep
from api.schemas import Body, Instant
from core.domain import EXTENSION_KINDS, AlertKind, OrgKind
from core.silence import LIFE_SAFETY
from storage import registry, silences
from storage.cases import queries as case_queries
from storage.errors import Invalid

router = APIRouter(tags=["silences"])

KINDS = tuple(k.value for k in AlertKind) + EXTENSION_KINDS
SETTERS = (OrgKind.PROPERTY, OrgKind.MAINTENANCE, OrgKind.SUPERVISION)
LONGEST = timedelta(days=366)


class SilenceCreate(Body):
    """POST /silences: exactly one of elevator_id and site_id."""

    elevator_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    site_id: int | None = None
    kinds: Annotated[list[str], Field(min_length=1, max_length=len(KINDS))]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    expires_at: Instant

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown alert kinds {unknown}")
        never = sorted(set(v) & LIFE_SAFETY)
        if never:
            raise ValueError(f"{', '.join(never)} can never be silenced (life safety)")
        return sorted(set(v))


@router.post("/silences", status_code=status.HTTP_201_CREATED)
def create_silence(body: SilenceCreate, conn: ConnDep, principal: PrincipalDep,
                   settings: SettingsDep) -> dict[str, Any]:
    """Hold the notifications of those kinds at the elevator or site until expires_at."""
    if (body.elevator_id is None) == (body.site_id is None):
        raise Invalid("elevator_id", "give exactly one of elevator_id and site_id")
    now = datetime.now(UTC)
    if body.expires_at <= now:
        raise Invalid("expires_at", "must lie in the future")
    if body.expires_at > now + LONGEST:
        raise Invalid("expires_at", "a silence lasts at most 366 days")
    elevator_pk = None
    if body.elevator_id is not None:
        elevator_pk = int(registry.get_elevator(
            conn, principal=principal, elevator_id=body.elevator_id,
            offline_after_s=settings.offline_after_s)["pk"])
    else:
        assert body.site_id is not None
        case_queries.visible_site(conn, principal=principal, site_id=body.site_id)
    if not principal.is_admin and principal.kind not in SETTERS:
        raise HTTPException(403, f"a {principal.kind} organization may not set silences "
                                 "(allowed: admin, property, maintenance, supervision)")
    with conn.transaction():
        silence_id = silences.create(conn, elevator_pk=elevator_pk, site_id=body.site_id,
                                     kinds=body.kinds, reason=body.reason,
                                     owner=principal.actor, org_id=principal.org_id,
                                     expires_at=body.expires_at)
    return silences.get_visible(conn, principal=principal, silence_id=silence_id)


@router.get("/silences")
def list_silences(conn: ConnDep, principal: PrincipalDep, page: PageDep,
                  active: bool = False) -> list[dict[str, Any]]:
    """Visible silences, newest first (`active=true`: only those lasting now)."""
    return silences.list_visible(conn, principal=principal, active_only=active,
                                 limit=page.limit, offset=page.offset)


@router.get("/silences/{silence_id}")
def get_silence(silence_id: int, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    """One silence."""
    return silences.get_visible(conn, principal=principal, silence_id=silence_id)


@router.delete("/silences/{silence_id}", status_code=status.HTTP_204_NO_CONTENT)
def end_silence(silence_id: int, conn: ConnDep, principal: PrincipalDep) -> Response:
    """End a silence now (it stays on the record); what it held is notified then."""
    row = silences.get_visible(conn, principal=principal, silence_id=silence_id)
    allowed = principal.is_admin or row["org_id"] == principal.org_id or (
        principal.kind == OrgKind.SUPERVISION and row["district"] == principal.district)
    if not allowed:
        raise HTTPException(403, "only the organization that set it, the district's "
                                 "supervision or an admin may end a silence")
    silences.end(conn, silence_id=silence_id, by=principal.actor)
    return Response(status_code=204)
