"""Cases (CONTRACT section 6): the list, one case with its trail, opening one, and every
step of reporting for duty ("报到") through to closing. Each step locks the case, asks the
state machine (:func:`core.cases.check`) and writes through the case-change seam, in one
transaction that commits before the reply."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import Field

from api.deps import ConnDep, PageDep, PrincipalDep, SettingsDep
from api.routes import stream
from api.schemas import Body
from core.cases import CAUSES, Action, CaseKind, CaseLimits, CaseState, Refusal, check, load_limits
from core.cases import SEVERITY as CASE_SEVERITY
from core.domain import OrgKind, Principal
from storage import cases, registry
from storage.cases import changes, duty
from storage.errors import Conflict, Invalid

log = structlog.get_logger(__name__)
router = APIRouter(tags=["cases"])
# /cases/stream must be matched before /cases/{case_id}.
router.include_router(stream.cases_router)

Note = Annotated[str, Field(min_length=1, max_length=4000)]
Count = Annotated[int, Field(ge=0, le=100, strict=True)]


class NoteBody(Body):
    """POST /cases/{id}/duty and /arrive, /close (the body is optional)."""

    note: Note | None = None


class NoteRequired(Body):
    """POST /cases/{id}/notes."""

    note: Note


class RescuedBody(Body):
    """POST /cases/{id}/rescued."""

    trapped_count: Count
    injured_count: Count
    note: Note | None = None


class ResolveBody(Body):
    """POST /cases/{id}/resolve: the cause (one of core.cases.CAUSES) and what was done."""

    cause: str
    note: Note


class CancelBody(Body):
    """POST /cases/{id}/cancel."""

    reason: Note


class CaseCreate(Body):
    """POST /cases."""

    kind: CaseKind
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    elevator_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    site_id: int | None = None
    rescue_code: Annotated[str, Field(pattern=r"^[0-9]{5,6}$")] | None = None
    trapped_count: Count | None = None
    contact: Annotated[str, Field(min_length=1, max_length=64)] | None = None


def case_limits(request: Request, settings: Any) -> dict[CaseKind, CaseLimits]:
    """The [cases.<kind>] limits of the rules file, read again when the file changes (as
    the rules service does); a file that became invalid keeps the last good limits."""
    path = getattr(settings, "rules_file", None)
    try:
        stamp = path.stat().st_mtime_ns if path is not None else None
    except OSError:
        stamp = None
    cached: tuple[Any, dict[CaseKind, CaseLimits]] | None = getattr(
        request.app.state, "case_limits", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        limits = load_limits(path)
    except ValueError as exc:
        if cached is None:
            raise
        log.error("[cases] refused; keeping the previous limits", error=str(exc))
        limits = cached[1]
    request.app.state.case_limits = (stamp, limits)
    return limits


def _may_see_contacts(principal: Principal, case: dict[str, Any]) -> bool:
    return principal.is_admin or any(p["org_id"] == principal.org_id for p in case["parties"])


def case_out(principal: Principal, case: dict[str, Any]) -> dict[str, Any]:
    """The case as this caller may see it: contacts only for its parties and admins."""
    if _may_see_contacts(principal, case):
        return case
    return {**case, "contact": None,
            "reports": [{**r, "contact": None} for r in case["reports"]]}


@router.get("/cases")
def list_cases(conn: ConnDep, principal: PrincipalDep, page: PageDep,
               state: CaseState | None = None, kind: CaseKind | None = None,
               elevator_id: Annotated[str | None, Query(max_length=64)] = None,
               site_id: int | None = None, overdue: bool | None = None,
               party: Annotated[str | None, Query(
                   pattern="^me$", description="`me`: cases where the caller's "
                                               "organization is a party")] = None,
               district: Annotated[str | None, Query(max_length=200)] = None
               ) -> list[dict[str, Any]]:
    """Visible cases, newest first."""
    party_org = None
    if party == "me":
        party_org = principal.org_id if principal.org_id is not None else -1
    rows = cases.list_visible(conn, principal=principal, limit=page.limit, offset=page.offset,
                              state=state.value if state else None,
                              kind=kind.value if kind else None, elevator_id=elevator_id,
                              site_id=site_id, overdue=overdue, party_org=party_org,
                              district=district)
    return [case_out(principal, r) for r in rows]


@router.get("/cases/{case_id}")
def get_case(case_id: int, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    """One case with its audit trail (`events`, oldest first) and every message to people's
    channels (`notifications`: who, when, which channel, delivered or not)."""
    row = cases.get_visible(conn, principal=principal, case_id=case_id)
    return {**case_out(principal, row), "events": cases.events(conn, case_id=case_id),
            "notifications": cases.notifications.for_case(conn, case_id=case_id)}


def _refuse(exc: Refusal) -> HTTPException:
    return HTTPException(exc.status, exc.message)


def _target(conn: ConnDep, principal: Principal, settings: Any, body: CaseCreate
            ) -> tuple[int, int | None]:
    """(site id, elevator pk or None) of a new case, as the caller may see them."""
    given = [f for f in ("elevator_id", "site_id", "rescue_code") if getattr(body, f)]
    if len(given) != 1:
        raise Invalid("elevator_id", "give exactly one of elevator_id, site_id, rescue_code")
    elevator_id = body.elevator_id
    if body.rescue_code:
        found = cases.queries.elevators_by_rescue_code(conn, principal=principal,
                                                       code=body.rescue_code)
        if not found:
            raise Invalid("rescue_code", f"no elevator you see has rescue code "
                                         f"{body.rescue_code}")
        if len(found) > 1:
            raise Invalid("rescue_code", f"rescue code {body.rescue_code} is used in several "
                                         f"districts ({', '.join(found)}); give elevator_id")
        elevator_id = found[0]
    if elevator_id is not None:
        row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                    offline_after_s=settings.offline_after_s)
        return int(row["site_id"]), int(row["pk"])
    assert body.site_id is not None
    site = cases.queries.visible_site(conn, principal=principal, site_id=body.site_id)
    return int(site["id"]), None


@router.post("/cases", status_code=status.HTTP_201_CREATED)
def open_case(body: CaseCreate, request: Request, response: Response, conn: ConnDep,
              principal: PrincipalDep, settings: SettingsDep) -> dict[str, Any]:
    """Open a case (`source: org`), or join the open one of that kind (200, `joined`)."""
    if body.kind == CaseKind.HAZARD:
        raise Invalid("kind", "a hazard case is opened by recording an inspection with "
                              "hazards (POST /elevators/{id}/inspections)")
    if body.kind == CaseKind.RESCUE and body.site_id is not None:
        raise Invalid("site_id", "a rescue is for one elevator: give elevator_id or "
                                 "rescue_code")
    if body.kind == CaseKind.RESPONSIBILITY_GAP and not (
            principal.is_admin or principal.kind in (OrgKind.STREET, OrgKind.SUPERVISION)):
        raise HTTPException(403, "responsibility gaps are opened by end of service, or by "
                                 "admin, street or supervision")
    limits = case_limits(request, settings)[body.kind]
    now = datetime.now(UTC)
    with conn.transaction():
        site_id, elevator_pk = _target(conn, principal, settings, body)
        if body.kind == CaseKind.RESPONSIBILITY_GAP:
            case_id, opened = changes.open_responsibility_gap(
                conn, site_id=site_id, elevator_pk=elevator_pk, reason=body.description,
                actor=principal.actor, org_id=principal.org_id, limits=limits, now=now)
        else:
            case_id, opened = changes.open_case(
                conn, kind=body.kind, site_id=site_id, elevator_pk=elevator_pk, source="org",
                severity=CASE_SEVERITY[body.kind].value, description=body.description,
                actor=principal.actor, org_id=principal.org_id, limits=limits, now=now,
                contact=body.contact, trapped_count=body.trapped_count)
        if not opened:
            duty.note(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                      text=f"also called in: {body.description}")
    if not opened:
        response.status_code = status.HTTP_200_OK
    row = cases.get(conn, case_id=case_id)
    return {**case_out(principal, row), "joined": not opened}


def _step(conn: ConnDep, principal: Principal, case_id: int, action: Action, *,
          cause: str | None = None) -> dict[str, Any]:
    """Lock a visible case and check the caller may do ``action``; the locked row."""
    cases.get_visible(conn, principal=principal, case_id=case_id)
    row = duty.lock(conn, case_id=case_id)
    me = cases.queries.party(conn, case_id=case_id, org_id=principal.org_id)
    try:
        check(action, kind=row["kind"], state=row["state"], actor_kind=principal.kind,
              is_party=me is not None, on_duty=bool(me and me["on_duty_at"]),
              arrived=bool(me and me["arrived_at"]), rescued=row["rescued_at"] is not None,
              cause=cause)
    except Refusal as exc:
        raise _refuse(exc) from None
    return row


def _done(conn: ConnDep, principal: Principal, case_id: int) -> dict[str, Any]:
    return case_out(principal, cases.get(conn, case_id=case_id))


@router.post("/cases/{case_id}/duty")
def report_for_duty(case_id: int, conn: ConnDep, principal: PrincipalDep,
                    body: NoteBody | None = None) -> dict[str, Any]:
    """Report for duty ("报到"): the caller's organization is on duty from now (409 if it
    already is)."""
    if principal.org_id is None:
        raise HTTPException(403, "the admin token belongs to no organization; report for "
                                 "duty with an organization's token")
    with conn.transaction():
        _step(conn, principal, case_id, Action.DUTY)
        duty.duty(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                  org_kind=principal.kind.value, note=body.note if body else None)
    return _done(conn, principal, case_id)


@router.post("/cases/{case_id}/arrive")
def arrive(case_id: int, conn: ConnDep, principal: PrincipalDep,
           body: NoteBody | None = None) -> dict[str, Any]:
    """Arrived on site (a party on duty)."""
    with conn.transaction():
        _step(conn, principal, case_id, Action.ARRIVE)
        duty.arrive(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                    note=body.note if body else None)
    return _done(conn, principal, case_id)


@router.post("/cases/{case_id}/rescued")
def rescued(case_id: int, body: RescuedBody, conn: ConnDep, principal: PrincipalDep
            ) -> dict[str, Any]:
    """The trapped passengers are out (a party on duty, rescue cases)."""
    if body.injured_count > body.trapped_count:
        raise Invalid("injured_count", "cannot be more than trapped_count")
    with conn.transaction():
        _step(conn, principal, case_id, Action.RESCUED)
        duty.rescued(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                     trapped_count=body.trapped_count, injured_count=body.injured_count,
                     note=body.note)
    return _done(conn, principal, case_id)


@router.post("/cases/{case_id}/resolve")
def resolve(case_id: int, body: ResolveBody, conn: ConnDep, principal: PrincipalDep
            ) -> dict[str, Any]:
    """The work is done (a party on duty), with its cause."""
    if body.cause not in CAUSES:
        raise Invalid("cause", f"cause must be one of {', '.join(CAUSES)}")
    with conn.transaction():
        _step(conn, principal, case_id, Action.RESOLVE, cause=body.cause)
        duty.resolve(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                     cause=body.cause, note=body.note)
    return _done(conn, principal, case_id)


@router.post("/cases/{case_id}/close")
def close(case_id: int, conn: ConnDep, principal: PrincipalDep,
          body: NoteBody | None = None) -> dict[str, Any]:
    """Close a resolved case (street, supervision, admin); a hazard case is closed by
    supervision, and that close is recorded as a re-inspection of the elevator."""
    from storage import records

    note = body.note if body else None
    with conn.transaction():
        row = _step(conn, principal, case_id, Action.CLOSE)
        details: dict[str, Any] = {}
        if row["kind"] == CaseKind.HAZARD and row["elevator_pk"] is not None:
            done = records.record_inspection(
                conn, elevator_pk=row["elevator_pk"], result="pass",
                notes=note or f"re-inspection: hazards of case {case_id} rectified",
                seal=None, next_due=None, org_id=principal.org_id, recorded_by=principal.actor)
            details["inspection_id"] = done["id"]
        duty.close(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                   note=note, details=details)
    return _done(conn, principal, case_id)


@router.post("/cases/{case_id}/cancel")
def cancel(case_id: int, body: CancelBody, conn: ConnDep, principal: PrincipalDep
           ) -> dict[str, Any]:
    """A false alarm or a duplicate (property, street, supervision, admin)."""
    with conn.transaction():
        _step(conn, principal, case_id, Action.CANCEL)
        duty.cancel(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                    reason=body.reason)
    return _done(conn, principal, case_id)


@router.post("/cases/{case_id}/notes", status_code=status.HTTP_201_CREATED)
def add_note(case_id: int, body: NoteRequired, conn: ConnDep, principal: PrincipalDep
             ) -> dict[str, Any]:
    """A comment on the record (any party)."""
    with conn.transaction():
        _step(conn, principal, case_id, Action.NOTE)
        duty.note(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                  text=body.note)
    return _done(conn, principal, case_id)


def duty_for_alert(conn: ConnDep, principal: Principal, alert_id: int,
                   note: str | None) -> int | None:
    """POST /alerts/{id}/ack reports for duty on the alert's case, for the caller's
    organization, when it is not on duty yet; the case id."""
    case_id = cases.queries.case_of_alert(conn, alert_id=alert_id)
    if case_id is None or principal.org_id is None:
        return case_id
    row = duty.lock(conn, case_id=case_id)
    me = cases.queries.party(conn, case_id=case_id, org_id=principal.org_id)
    if row["state"] in (CaseState.OPEN, CaseState.ON_SITE) and not (me and me["on_duty_at"]):
        with contextlib.suppress(Conflict):  # on duty meanwhile: nothing more to do
            duty.duty(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                      org_kind=principal.kind.value, note=note)
    return case_id


def arrive_for_alert(conn: ConnDep, principal: Principal, alert_id: int,
                     note: str | None) -> None:
    """POST /alerts/{id}/arrive: the caller's organization reports for duty on the alert's
    case if it had not, and arrives (a v1 client's arrival keeps the case from going
    overdue)."""
    case_id = duty_for_alert(conn, principal, alert_id, note)
    if case_id is None:
        return
    row = duty.lock(conn, case_id=case_id)
    me = cases.queries.party(conn, case_id=case_id, org_id=principal.org_id)
    if row["state"] in (CaseState.OPEN, CaseState.ON_SITE) and not (me and me["arrived_at"]):
        duty.arrive(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                    note=note)
