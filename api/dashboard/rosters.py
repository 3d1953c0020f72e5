"""The duty roster page of an organization (issue 15): who is on duty now, the weekly
shifts and one-off overrides, how its people and the organization are reached (channels,
masked, and whether one keeps failing), for the organization's people and admins; its
managers and admins edit it through the JSON API (``static/js/roster.js``). Another
organization's page answers 404, as the API does."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.dashboard.web import PagePrincipal, PageRoute, render
from api.deps import ConnDep
from core import roster
from storage import access, registry, rosters
from storage.errors import NotFound

router = APIRouter(route_class=PageRoute, include_in_schema=False)

LIST_LIMIT = 1000


@router.get("/orgs/{org_id}/roster")
def roster_page(org_id: int, request: Request, conn: ConnDep, principal: PagePrincipal
                ) -> Response:
    """The roster, who is on duty now, and the channels."""
    if not principal.is_admin and principal.org_id != org_id:
        raise NotFound(f"organization {org_id} does not exist")
    org = registry.get_org(conn, org_id=org_id)
    now = datetime.now(UTC)
    shifts, overrides = rosters.roster_of(conn, org_ids=[org_id], around=now)[org_id]
    on_now, source = roster.on_duty(shifts, overrides, now)
    people = access.list_people(conn, org_id=org_id, limit=LIST_LIMIT, offset=0)
    names = {p["id"]: p["name"] for p in people}
    return render(request, "roster.html", principal, nav="roster", org=org,
                  roster=rosters.get_roster(conn, org_id=org_id),
                  channels=rosters.get_channels(conn, org_id=org_id), people=people,
                  person_names=names, on_now=[names.get(p, str(p)) for p in on_now],
                  source=source, manages=principal.manages(org_id), now=now)
