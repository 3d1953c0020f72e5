"""One elevator: registry, who answers for it (and who did), state, charts, alerts, cases,
records, and (admin, its property organization) a link to its printable sign; for admin and
supervision a handover to another property organization, for admin a change of maintenance
organization (through the JSON API, ``static/js/manage.js``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.dashboard.queue import event_rows, with_responsibility
from api.dashboard.web import PagePrincipal, PageRoute, render
from api.deps import ConnDep, SettingsDep
from core.chain import called_levels
from core.domain import OrgKind
from storage import alerts, cases, records, registry, reports, responsibility

router = APIRouter(route_class=PageRoute, include_in_schema=False)

TIMELINE = 25
RECORDS = 20
CASES = 20
CHART_HOURS = (1, 3, 12, 24)


@router.get("/elevators/{elevator_id}")
def elevator_page(request: Request, conn: ConnDep, settings: SettingsDep,
                  principal: PagePrincipal,
                  elevator_id: Annotated[str, Path(max_length=64)]) -> Response:
    """Registry data, responsibility and its history, state, charts, timeline, records."""
    e = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                              offline_after_s=settings.offline_after_s)
    history = registry.property_history(conn, elevator_pk=e["pk"])
    chain = alerts.chain(conn, elevator_ids=[e["id"]]).get(e["id"], [])
    timeline = with_responsibility(conn, alerts.list_visible(
        conn, principal=principal, limit=TIMELINE, offset=0, elevator_id=e["id"]))
    for a in timeline:
        a["events"] = event_rows(conn, a["id"])
    inspections = records.list_inspections(conn, elevator_pk=e["pk"], limit=RECORDS, offset=0)
    maintenance = records.list_maintenance(conn, elevator_pk=e["pk"], limit=RECORDS, offset=0)
    names = reports.org_names(conn, org_ids=[
        e["maintenance_org_id"], e["property_org_id"],
        *(r["org_id"] for r in [*inspections, *maintenance] if r["org_id"])])
    case_list = cases.queries.for_elevator(conn, elevator_pk=e["pk"], limit=CASES)
    may_print_sign = principal.is_admin or (principal.org_id is not None
                                            and principal.org_id == e["property_org_id"])
    may_hand_over = principal.is_admin or principal.kind == OrgKind.SUPERVISION
    property_orgs = maintenance_orgs = []
    if may_hand_over:
        property_orgs = [o for o in responsibility.orgs_with_end(conn, kind="property")
                         if o["ended_at"] is None]
    if principal.is_admin:
        maintenance_orgs = [o for o in responsibility.orgs_with_end(conn, kind="maintenance")
                            if o["ended_at"] is None]
    latest = e.get("latest")
    return render(request, "elevator.html", principal, nav="fleet", e=e,
                  latest=latest if isinstance(latest, dict) else {}, history=history, chain=chain,
                  open_levels=called_levels(0), timeline=timeline, inspections=inspections,
                  maintenance=maintenance, names=names, chart_hours=CHART_HOURS,
                  cases=case_list, may_print_sign=may_print_sign,
                  maintenance_history=registry.maintenance_history(conn, elevator_pk=e["pk"]),
                  may_hand_over=may_hand_over, property_orgs=property_orgs,
                  maintenance_orgs=maintenance_orgs)
