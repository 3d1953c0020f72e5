"""The case queue (active and overdue first, with who must report for duty and who did)
and one case's page (its timeline, deadlines, the elevator's state and telemetry around
the case). The buttons act through the JSON API (``static/js/cases.js``), as the alert
queue's do; which buttons a caller sees is what the state machine
(:func:`core.cases.check`) allows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.dashboard.fleet import all_pages
from api.dashboard.web import PagePrincipal, PageRoute, render
from api.deps import ConnDep, SettingsDep
from api.routes.cases import case_out
from core.cases import CAUSES, Action, CaseKind, CaseState, Refusal, check
from core.domain import Principal
from storage import cases, registry, reports
from storage.errors import Invalid, NotFound

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Row = dict[str, Any]
QUEUE_LIMIT = 200
FilterParam = Annotated[str | None, Query(max_length=200)]
# The buttons of a case, in the order they are shown.
ACTIONS = (Action.DUTY, Action.ARRIVE, Action.RESCUED, Action.RESOLVE, Action.NOTE,
           Action.CLOSE, Action.CANCEL)
CHART_BEFORE = timedelta(minutes=30)
CHART_AFTER = timedelta(minutes=30)
CHART_MAX = timedelta(hours=24)


def _time(value: Any) -> datetime | None:
    """A timestamp of the case object (a datetime, or an ISO string from jsonb)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def my_party(principal: Principal, case: Row) -> Row | None:
    """The caller's organization among the case's parties."""
    if principal.org_id is None:
        return None
    return next((p for p in case["parties"] if p["org_id"] == principal.org_id), None)


def allowed(principal: Principal, case: Row) -> list[str]:
    """The actions the state machine lets the caller take on the case now."""
    me = my_party(principal, case)
    out = []
    for action in ACTIONS:
        if action == Action.DUTY and principal.org_id is None:
            continue  # an admin token belongs to no organization that could be on duty
        try:
            check(action, kind=case["kind"], state=case["state"], actor_kind=principal.kind,
                  is_party=me is not None, on_duty=bool(me and me["on_duty_at"]),
                  arrived=bool(me and me["arrived_at"]),
                  rescued=case["rescued_at"] is not None,
                  cause=CAUSES[0] if action == Action.RESOLVE else None)
        except Refusal:
            continue
        out.append(action.value)
    return out


def mark(party: Row, accept_by: datetime, now: datetime) -> str:
    """duty (on duty in time), late_duty (on duty after accept_by), late (not on duty and
    accept_by passed) or waiting (not yet, still in time)."""
    on_duty = _time(party["on_duty_at"])
    if on_duty is not None:
        return "late_duty" if party["late"] or on_duty > accept_by else "duty"
    return "late" if party["late"] or accept_by <= now else "waiting"


def deadlines(case: Row) -> list[Row]:
    """accept_by, arrive_by, resolve_by with when each was met (None: not yet)."""
    duty_times = [t for p in case["parties"] if (t := _time(p["on_duty_at"]))]
    met = {"accept_by": min(duty_times) if duty_times else None,
           "arrive_by": case["arrived_at"], "resolve_by": case["resolved_at"]}
    finished = case["state"] in (CaseState.CLOSED, CaseState.CANCELLED)
    return [{"name": name, "at": case[name], "met_at": met[name], "finished": finished}
            for name in ("accept_by", "arrive_by", "resolve_by") if case[name] is not None]


def presented(principal: Principal, row: Row, now: datetime) -> Row:
    """A case as the pages show it: contacts only for parties, the caller's buttons, the
    required parties (and any other on duty) with their marks, the deadlines."""
    case = case_out(principal, row)
    shown = [{**p, "mark": mark(p, case["accept_by"], now)} for p in case["parties"]
             if p["required"] or p["on_duty_at"]]
    return {**case, "allowed": allowed(principal, case), "shown_parties": shown,
            "deadlines": deadlines(case), "me": my_party(principal, case)}


def _choice(value: str | None, field: str, choices: tuple[str, ...]) -> str | None:
    if not value:
        return None
    if value not in choices:
        raise Invalid(field, "must be one of " + ", ".join(choices))
    return value


def _districts(conn: psycopg.Connection, principal: Principal) -> list[str]:
    if principal.district:
        return [principal.district]
    return sorted({s["district"] for s in all_pages(
        lambda limit, offset: registry.list_sites(conn, principal=principal, limit=limit,
                                                  offset=offset))})


@router.get("/cases")
def case_queue(request: Request, conn: ConnDep, principal: PagePrincipal,
               kind: FilterParam = None, state: FilterParam = None,
               district: FilterParam = None, party: FilterParam = None) -> Response:
    """Visible cases, overdue and active first; filtered by kind, state, district, party."""
    filters = {"kind": _choice(kind, "kind", tuple(k.value for k in CaseKind)),
               "state": _choice(state, "state", tuple(s.value for s in CaseState)),
               "party": _choice(party, "party", ("me",)), "district": district or None}
    party_org = None
    if filters["party"] == "me":
        party_org = principal.org_id if principal.org_id is not None else -1
    rows = cases.list_visible(conn, principal=principal, limit=QUEUE_LIMIT, offset=0,
                              kind=filters["kind"], state=filters["state"],
                              district=filters["district"], party_org=party_org,
                              active_first=True)
    now = datetime.now(UTC)
    return render(request, "cases.html", principal, nav="cases",
                  cases=[presented(principal, r, now) for r in rows], filters=filters,
                  kinds=[k.value for k in CaseKind], states=[s.value for s in CaseState],
                  districts=_districts(conn, principal), causes=CAUSES, now=now,
                  limit=QUEUE_LIMIT)


def event_rows(conn: psycopg.Connection, case_id: int) -> list[Row]:
    """The case's trail with the names of the organizations that acted."""
    events = cases.events(conn, case_id=case_id)
    names = reports.org_names(conn, org_ids=[e["org_id"] for e in events if e["org_id"]])
    return [{**e, "org_name": names.get(e["org_id"])} for e in events]


def chart_window(case: Row, now: datetime) -> tuple[datetime, datetime]:
    """The telemetry shown with a case: from before it opened to after it ended (or now),
    at most a day."""
    start = case["opened_at"] - CHART_BEFORE
    ended = case["closed_at"] or case["resolved_at"]
    end = min(now, (ended + CHART_AFTER) if ended else now, start + CHART_MAX)
    return start, max(end, start + timedelta(minutes=5))


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, conn: ConnDep, settings: SettingsDep,
              principal: PagePrincipal) -> Response:
    """One case: state, parties, deadlines, timeline, the elevator now and around then."""
    row = cases.get_visible(conn, principal=principal, case_id=case_id)
    now = datetime.now(UTC)
    case = presented(principal, row, now)
    elevator = None
    if case["elevator_id"] is not None:
        try:
            elevator = registry.get_elevator(conn, principal=principal,
                                             elevator_id=case["elevator_id"],
                                             offline_after_s=settings.offline_after_s)
        except NotFound:  # a party from beyond the elevator's scope sees the case only
            elevator = None
    start, end = chart_window(case, now)
    return render(request, "case.html", principal, nav="cases", c=case, elevator=elevator,
                  events=event_rows(conn, case_id), causes=CAUSES, now=now,
                  chart_start=start, chart_end=end,
                  notifications=cases.notifications.for_case(conn, case_id=case_id),
                  party_names={p["org_id"]: p["org_name"] for p in case["parties"]})
