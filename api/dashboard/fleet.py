"""The fleet: counts per district, site and status, and tiles coloured by status (every
elevator of a small fleet; of a large one, the chosen place's and those not normal)."""

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
from storage import alerts
from storage import fleet as fleet_store
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


def tile_alerts(conn: psycopg.Connection, elevator_pks: list[int]) -> dict[str, list[Row]]:
    """Open and acknowledged alerts of these elevators, most severe first, per elevator."""
    out: dict[str, list[Row]] = defaultdict(list)
    for a in fleet_store.unresolved(conn, elevator_pks=elevator_pks):
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


FULL_FLEET = 300  # up to this many visible elevators, the page shows every tile
TILE_LIMIT = 500  # tiles on one page at most (the others: choose a district or a site)
SearchParam = Annotated[str | None, Query(max_length=100)]


def _summary(rows: list[Row], place: str | None, site: int | None, everything: bool
             ) -> tuple[list[Row], Counter[str]]:
    """Per district: counts per status and total, and its sites' (for the chosen district,
    the chosen site's, or all of them when ``everything``); the counts of the chosen place."""
    districts: dict[str, Row] = {}
    counts: Counter[str] = Counter()
    for r in rows:
        d = districts.setdefault(r["district"], {"district": r["district"],
                                                 "counts": Counter(), "sites": {}})
        d["counts"][r["status"]] += r["n"]
        here = (site is None or r["site_id"] == site) and place in (None, r["district"])
        if here:
            counts[r["status"]] += r["n"]
        if site == r["site_id"]:
            d["chosen"] = True
        s = d["sites"].setdefault(r["site_id"], {
            "id": r["site_id"], "name": r["site_name"], "address": r["site_address"],
            "counts": Counter()})
        s["counts"][r["status"]] += r["n"]
    out = []
    for d in districts.values():
        d["total"] = sum(d["counts"].values())
        open_ = everything or d["district"] == place or d.get("chosen", False)
        d["sites"] = [{**s, "total": sum(s["counts"].values())}
                      for s in d["sites"].values()] if open_ else []
        out.append(d)
    return out, counts


@router.get("/")
def fleet(request: Request, conn: ConnDep, settings: SettingsDep, principal: PagePrincipal,
          site_id: FilterParam = None, status: FilterParam = None,
          district: FilterParam = None, q: SearchParam = None) -> Response:
    """A summary by district and site with counts per status; tiles of every visible
    elevator up to FULL_FLEET of them, beyond that only of the chosen district, site or
    search and of every elevator that is not normal."""
    site = _site_id(site_id)
    wanted = _status(status)
    place = district or None
    search = (q or "").strip() or None
    rows = fleet_store.summary(conn, principal=principal,
                               offline_after_s=settings.offline_after_s)
    total = sum(r["n"] for r in rows)
    everything = total <= FULL_FLEET
    summary, counts = _summary(rows, place, site, everything)
    if everything:  # small fleets: every tile, the status filter hides the others
        elevators, matching = fleet_store.tiles(
            conn, principal=principal, offline_after_s=settings.offline_after_s,
            limit=FULL_FLEET, site_id=site, district=place, q=search)
    else:
        chosen = site is not None or place is not None or search is not None
        elevators, matching = fleet_store.tiles(
            conn, principal=principal, offline_after_s=settings.offline_after_s,
            limit=TILE_LIMIT, site_id=site, district=place, q=search, status=wanted,
            not_normal=not chosen and wanted is None)
    open_alerts = tile_alerts(conn, [e["pk"] for e in elevators])
    tree: dict[str, dict[int, tuple[Row, list[Row]]]] = defaultdict(dict)
    for e in elevators:
        group = tree[e["district"]].setdefault(e["site_id"], ({
            "id": e["site_id"], "name": e["site_name"], "address": e["site_address"]}, []))
        group[1].append({**e, "alerts": open_alerts.get(e["id"], []),
                         "hidden": everything and wanted is not None
                         and e["status"] != wanted})
    sites = sorted(({"id": r["site_id"], "name": r["site_name"]} for r in rows
                    if everything or r["district"] == place or r["site_id"] == site),
                   key=lambda s: (s["name"], s["id"]))
    return render(request, "fleet.html", principal, nav="fleet",
                  tree={d: list(g.values()) for d, g in tree.items()}, counts=counts,
                  total=total, statuses=STATUS_ORDER, summary=summary, everything=everything,
                  shown=len(elevators), matching=matching,
                  sites=list({s["id"]: s for s in sites}.values()),
                  districts=[d["district"] for d in summary],
                  selected={"site_id": site, "status": wanted, "district": place,
                            "q": search})
