"""Organizations (admin only); their people and tokens are api/routes/people.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import Field

from api.deps import AdminDep, ConnDep, PageDep, PrincipalDep
from api.routes.cases import case_limits
from api.routes.elevators import MAX_BACKDATE
from api.schemas import Body as BodyModel
from api.schemas import Instant, OrgCreate
from core.domain import OrgKind
from storage import registry, responsibility
from storage.errors import Invalid, NotFound

router = APIRouter(tags=["organizations"])


@router.post("/orgs", status_code=status.HTTP_201_CREATED)
def create_org(body: OrgCreate, conn: ConnDep, _admin: AdminDep) -> dict[str, Any]:
    """Create an organization."""
    return registry.create_org(conn, name=body.name, kind=body.kind, district=body.district)


@router.get("/orgs")
def list_orgs(conn: ConnDep, _admin: AdminDep, page: PageDep) -> list[dict[str, Any]]:
    """Every organization (admin)."""
    return registry.list_orgs(conn, limit=page.limit, offset=page.offset)


@router.get("/orgs/{org_id}")
def get_org(org_id: int, conn: ConnDep, _admin: AdminDep) -> dict[str, Any]:
    """One organization (admin)."""
    return registry.get_org(conn, org_id=org_id)


class EndService(BodyModel):
    """POST /orgs/{id}/end-service."""

    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    effective_at: Instant | None = None


@router.post("/orgs/{org_id}/end-service")
def end_service(org_id: int, body: EndService, request: Request, conn: ConnDep,
                principal: PrincipalDep) -> dict[str, Any]:
    """The organization stops working for its elevators from effective_at (default now):
    its tokens and sessions answer 401, it is no longer responsible for its elevators, and
    every site and elevator it leaves without one gets a responsibility gap case (admin;
    supervision, for organizations working in its district)."""
    org = registry.get_org(conn, org_id=org_id)
    if not principal.is_admin:
        if principal.kind != OrgKind.SUPERVISION:
            raise HTTPException(403, "end of service is for admin and supervision")
        if not registry.works_in_district(conn, org_id=org_id, district=principal.district):
            raise NotFound(f"organization {org_id} does not exist")
    now = datetime.now(UTC)
    at = body.effective_at or now
    if at < now - MAX_BACKDATE:  # for admins too: its tokens' past use would be rewritten
        raise Invalid("effective_at", "may not lie more than 5 minutes in the past")
    if org["kind"] == OrgKind.ADMIN:
        raise Invalid("org_id", "an admin organization does not serve elevators")
    with conn.transaction():
        out = responsibility.end_service(conn, org_id=org_id, reason=body.reason,
                                         effective_at=at, by=principal.actor)
    out["gap_cases"] = responsibility.apply_due(
        conn, now=datetime.now(UTC), limits=case_limits(request, request.app.state.settings))
    return out


class OrgPatch(BodyModel):
    """PATCH /orgs/{id}."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    district: Annotated[str, Field(min_length=1, max_length=200)] | None = None


@router.patch("/orgs/{org_id}")
def patch_org(org_id: int, body: OrgPatch, conn: ConnDep, admin: AdminDep) -> dict[str, Any]:
    """Rename an organization or move it to another district (admin)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes or any(v is None for v in changes.values()):
        raise Invalid("body", "give name and/or district (neither can be removed)")
    return registry.patch_row(conn, table="orgs", row_id=org_id, changes=changes,
                              what="organization")
