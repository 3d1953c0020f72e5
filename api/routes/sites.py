"""Sites: buildings or estates whose elevators share an address and a district."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from pydantic import Field

from api.deps import AdminDep, ConnDep, PageDep, PrincipalDep
from api.routes.elevators import not_in_the_past
from api.schemas import Body as BodyModel
from api.schemas import Instant, SiteCreate
from core.domain import OrgKind
from storage import cases, registry, responsibility
from storage.errors import Invalid

router = APIRouter(tags=["sites"])

@router.post("/sites", status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, conn: ConnDep, _admin: AdminDep) -> dict[str, Any]:
    """Create a site."""
    return registry.create_site(conn, name=body.name, address=body.address,
                                district=body.district, property_org_id=body.property_org_id)


@router.get("/sites")
def list_sites(conn: ConnDep, principal: PrincipalDep, page: PageDep) -> list[dict[str, Any]]:
    """Sites with at least one elevator the caller can see."""
    return registry.list_sites(conn, principal=principal, limit=page.limit,
                               offset=page.offset)


class SiteHandover(BodyModel):
    """POST /sites/{id}/handover."""

    property_org_id: int
    effective_at: Instant | None = None


@router.post("/sites/{site_id}/handover")
def hand_over_site(site_id: int, body: SiteHandover, conn: ConnDep,
                   principal: PrincipalDep) -> dict[str, Any]:
    """Hand every elevator of the site to a property organization (admin; supervision and
    street of the site's district), as the per-elevator handover does; a responsibility
    gap of the site closes by itself once every elevator has one again."""
    site = cases.queries.visible_site(conn, principal=principal, site_id=site_id)
    if not principal.is_admin and not (
            principal.kind in (OrgKind.SUPERVISION, OrgKind.STREET)
            and principal.district == site["district"]):
        raise HTTPException(403, "a site is handed over by admin, or the supervision or "
                                 "street office of its district")
    not_in_the_past(principal, body.effective_at)
    moved = responsibility.hand_over_site(conn, site_id=site_id,
                                          property_org_id=body.property_org_id,
                                          effective_at=body.effective_at,
                                          recorded_by=principal.actor)
    settled = responsibility.settle_gaps_now(conn, actor=principal.actor,
                                             org_id=principal.org_id)
    return {"site_id": site_id, "property_org_id": body.property_org_id,
            "effective_at": body.effective_at or datetime.now(UTC), "elevators": moved,
            "gap_cases_resolved": settled}


class SitePatch(BodyModel):
    """PATCH /sites/{id}."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    district: Annotated[str, Field(min_length=1, max_length=200)] | None = None


@router.patch("/sites/{site_id}")
def patch_site(site_id: int, body: SitePatch, conn: ConnDep, admin: AdminDep
               ) -> dict[str, Any]:
    """Rename a site, correct its address, or move it to another district (admin)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes or any(v is None for v in changes.values()):
        raise Invalid("body", "give name, address and/or district (none can be removed)")
    return registry.patch_row(conn, table="sites", row_id=site_id, changes=changes,
                              what="site")
