"""Organizations (admin only); their people and tokens are api/routes/people.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AdminDep, ConnDep, PageDep
from api.schemas import OrgCreate
from storage import registry

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
