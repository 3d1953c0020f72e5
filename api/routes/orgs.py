"""Organizations and their API tokens (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, status

from api.deps import AdminDep, ConnDep, PageDep
from api.schemas import OrgCreate, TokenCreate
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


@router.post("/orgs/{org_id}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(org_id: int, conn: ConnDep, _admin: AdminDep,
                 body: TokenCreate | None = Body(default=None)) -> dict[str, Any]:
    """A new token for the organization, shown once (only its hash is stored)."""
    return registry.create_token(conn, org_id=org_id, label=body.label if body else None)
