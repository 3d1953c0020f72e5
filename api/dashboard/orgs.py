"""The organizations page (CONTRACT section 5): which organizations there are, whether
their service ended, and one organization's people and tokens and its end of service.

Who sees what is what the API allows: an admin every organization; supervision the
organizations working in its district (:func:`storage.registry.works_in_district`), and
may end their service; a manager (person or token) its own organization, and manages its
people and tokens as an admin does. Anyone else is refused (403); an organization beyond
the caller's sight answers 404. The buttons act through the JSON API
(``static/js/manage.js``), as the case buttons do."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from api.dashboard.web import PagePrincipal, PageRoute, render
from api.deps import ConnDep
from core.domain import OrgKind, Principal
from storage import access, registry, responsibility, rosters
from storage.errors import NotFound

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Row = dict[str, Any]
LIST_LIMIT = 1000


def may_see_orgs(principal: Principal) -> bool:
    """The organizations page is for admins, supervision and managers."""
    return principal.is_admin or principal.kind == OrgKind.SUPERVISION or principal.manager


def _refuse(principal: Principal) -> None:
    if not may_see_orgs(principal):
        raise HTTPException(403, "the organizations page is for admins, supervision and the "
                                 "managers of an organization")


def may_end(principal: Principal) -> bool:
    """Admins and supervision end a (visible) organization's service."""
    return principal.is_admin or principal.kind == OrgKind.SUPERVISION


def visible_orgs(conn: psycopg.Connection, principal: Principal) -> list[Row]:
    """The organizations the caller sees, with their end of service."""
    rows = responsibility.orgs_with_end(conn)
    if principal.is_admin:
        return rows
    if principal.kind == OrgKind.SUPERVISION:
        return [o for o in rows if o["id"] == principal.org_id or registry.works_in_district(
            conn, org_id=o["id"], district=principal.district)]
    return [o for o in rows if principal.manager and o["id"] == principal.org_id]


@router.get("/orgs")
def orgs_page(request: Request, conn: ConnDep, principal: PagePrincipal) -> Response:
    """Every organization the caller sees: kind, district, ended or not, and how many of
    its channels to people keep failing."""
    _refuse(principal)
    return render(request, "orgs.html", principal, nav="orgs",
                  orgs=visible_orgs(conn, principal), failing=rosters.failing_by_org(conn))


@router.get("/orgs/{org_id}")
def org_page(org_id: int, request: Request, conn: ConnDep, principal: PagePrincipal
             ) -> Response:
    """One organization: its people and tokens (for its managers and admins), and its end
    of service (a form for admins and supervision)."""
    _refuse(principal)
    org = next((o for o in visible_orgs(conn, principal) if o["id"] == org_id), None)
    if org is None:
        raise NotFound(f"organization {org_id} does not exist")
    manages = principal.manages(org_id)
    people = tokens = []
    if manages:
        people = access.list_people(conn, org_id=org_id, limit=LIST_LIMIT, offset=0)
        tokens = access.list_tokens(conn, org_id=org_id, limit=LIST_LIMIT, offset=0)
    names = {p["id"]: p["name"] for p in people}
    return render(request, "org.html", principal, nav="orgs", org=org, people=people,
                  tokens=tokens, person_names=names, manages=manages,
                  may_end=may_end(principal) and org["kind"] != OrgKind.ADMIN
                  and org["ended_at"] is None)
