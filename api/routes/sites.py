"""Sites: buildings or estates whose elevators share an address and a district."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AdminDep, ConnDep, PageDep, PrincipalDep
from api.schemas import SiteCreate
from storage import registry

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
