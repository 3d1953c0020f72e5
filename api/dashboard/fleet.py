"""The fleet: every visible elevator as a tile coloured by status, by district and site."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.dashboard.web import STATUS_ORDER, PagePrincipal, PageRoute, render
from api.deps import ConnDep, SettingsDep
from core.domain import ElevatorStatus, Principal, severity_rank
from storage import alerts, registry
from storage.errors import Invalid

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = 1000
Row = dict[str, Any]
FilterParam = Annotated[str | None, Query(max_length=200)]


def all_pages(fetch: Callable[[int, int], list[Row]]) -> list[Row]:
    """Every row of a paged storage list."""
    rows: list[Row] = []
    while True:
        page = fetch(PAGE, len(rows))
        rows.extend(page)
        if len(page) < PAGE:
            return rows


def unresolved_by_elevator(conn: psycopg.Connection, principal: Principal
                           ) -> dict[str, list[Row]]:
    """Open and acknowledged alerts the caller sees, most severe first, per elevator."""
    out: dict[str, list[Row]] = defaultdict(list)
    for state in ("open", "acknowledged"):
        def fetch(limit: int, offset: int, state: str = state) -> list[Row]:
            return alerts.list_visible(conn, principal=principal, limit=limit, offset=offset,
                                       state=state)

        for a in all_pages(fetch):
            out[a["elevator_id"]].append(a)
    for rows in out.values():
        rows.sort(key=lambda a: (severity_rank(a["severity"]), a["opened_at"]))
    return out


def _site_id(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid("site_id", "must be a site number") from None


def _status(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return ElevatorStatus(value).value
    except ValueError:
        raise Invalid("status", "must be one of " + ", ".join(STATUS_ORDER)) from None


@router.get("/")
def fleet(request: Request, conn: ConnDep, settings: SettingsDep, principal: PagePrincipal,
          site_id: FilterParam = None, status: FilterParam = None,
          district: FilterParam = None) -> Response:
    """Tiles of every visible elevator, filtered by site, status and district."""
    site = _site_id(site_id)
    wanted = _status(status)
    place = district or None
    elevators = all_pages(lambda limit, offset: registry.list_elevators(
        conn, principal=principal, offline_after_s=settings.offline_after_s, limit=limit,
        offset=offset, site_id=site, district=place))
    sites = all_pages(lambda limit, offset: registry.list_sites(
        conn, principal=principal, limit=limit, offset=offset))
    open_alerts = unresolved_by_elevator(conn, principal)
    counts = Counter(e["status"] for e in elevators)
    groups: dict[tuple[str, int], list[Row]] = defaultdict(list)
    for e in elevators:
        groups[(e["district"], e["site_id"])].append(
            {**e, "alerts": open_alerts.get(e["id"], []),
             "hidden": wanted is not None and e["status"] != wanted})
    by_id = {s["id"]: s for s in sites}
    tree: dict[str, list[tuple[Row, list[Row]]]] = defaultdict(list)
    for (d, sid), rows in sorted(groups.items(), key=lambda kv: (
            kv[0][0], by_id.get(kv[0][1], {}).get("name", ""))):
        tree[d].append((by_id.get(sid, {"id": sid, "name": rows[0]["site_name"],
                                         "address": ""}), rows))
    return render(request, "fleet.html", principal, nav="fleet", tree=tree, counts=counts,
                  total=len(elevators), statuses=STATUS_ORDER, sites=sites,
                  districts=sorted({s["district"] for s in sites}),
                  selected={"site_id": site, "status": wanted, "district": place})
