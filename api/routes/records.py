"""Inspections (supervision seals and unseals elevators) and maintenance records."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Request, status
from pydantic import Field

from api.deps import ConnDep, PageDep, PrincipalDep, SettingsDep, require
from api.routes.cases import case_limits
from api.schemas import Body as BodyModel
from api.schemas import Day
from core.cases import SEVERITY as CASE_SEVERITY
from core.cases import CaseKind
from core.domain import OrgKind
from storage import records, registry
from storage.cases import changes as case_changes
from storage.cases import duty
from storage.errors import Invalid

router = APIRouter(tags=["records"])

Notes = Annotated[str, Field(min_length=1, max_length=4000)]


class InspectionResult(StrEnum):
    """The outcome of an inspection."""

    PASS = "pass"
    CONDITIONAL = "conditional"
    FAIL = "fail"


class InspectionCreate(BodyModel):
    """POST /elevators/{id}/inspections."""

    result: InspectionResult
    notes: Notes | None = None
    # true: out of service; false: back in service (strict: "yes" is not a seal)
    seal: Annotated[bool, Field(strict=True)] | None = None
    next_due: Day | None = None
    # v2: hidden dangers found, each to be rectified by the end of `rectify_by` (a date)
    hazards: Annotated[list[Annotated[str, Field(min_length=1, max_length=500)]],
                       Field(min_length=1, max_length=50)] | None = None
    rectify_by: Day | None = None


class MaintenanceCreate(BodyModel):
    """POST /elevators/{id}/maintenance (the body is optional)."""

    notes: Notes | None = None


def _elevator(conn: ConnDep, principal: PrincipalDep, settings: SettingsDep,
              elevator_id: str) -> dict[str, Any]:
    return registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                 offline_after_s=settings.offline_after_s)


def _hazard_case(conn: ConnDep, request: Request, settings: Any, principal: Any,
                 elevator: dict[str, Any], body: InspectionCreate) -> int:
    """The inspection found hidden dangers: a hazard case due at the end of rectify_by (or
    the open one gathers them)."""
    assert body.hazards is not None and body.rectify_by is not None
    limits = case_limits(request, settings)[CaseKind.HAZARD]
    case_id, opened = case_changes.open_case(
        conn, kind=CaseKind.HAZARD, site_id=int(elevator["site_id"]),
        elevator_pk=int(elevator["pk"]), source="inspection",
        severity=CASE_SEVERITY[CaseKind.HAZARD].value, description="; ".join(body.hazards),
        actor=principal.actor, org_id=principal.org_id, limits=limits,
        now=datetime.now(UTC), hazards=list(body.hazards),
        resolve_by=case_changes.end_of_day(body.rectify_by, settings.timezone),
        rectify_by=body.rectify_by)
    if not opened:
        duty.note(conn, case_id=case_id, actor=principal.actor, org_id=principal.org_id,
                  text="further hazards found: " + "; ".join(body.hazards))
    return case_id


@router.post("/elevators/{elevator_id}/inspections", status_code=status.HTTP_201_CREATED)
def record_inspection(elevator_id: str, body: InspectionCreate, conn: ConnDep,
                      request: Request, principal: PrincipalDep, settings: SettingsDep
                      ) -> dict[str, Any]:
    """Record an inspection (supervision of the district); `seal` takes the elevator out of
    service (true) or returns it (false); `next_due` moves the next inspection date."""
    if body.hazards and body.rectify_by is None:
        raise Invalid("rectify_by", "required with hazards: the date by which they must be "
                                    "rectified (YYYY-MM-DD)")
    if body.rectify_by is not None and not body.hazards:
        raise Invalid("hazards", "rectify_by is given without any hazards")
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    if body.rectify_by is not None and body.rectify_by < today:
        raise Invalid("rectify_by", f"{body.rectify_by} is in the past (today is {today})")
    with conn.transaction():  # the check and the record commit together, before the reply
        row = _elevator(conn, principal, settings, elevator_id)
        require(principal, OrgKind.SUPERVISION)
        out = records.record_inspection(
            conn, elevator_pk=row["pk"], result=body.result.value, notes=body.notes,
            seal=body.seal, next_due=body.next_due, org_id=principal.org_id,
            recorded_by=principal.actor)
        if body.hazards and body.rectify_by is not None:
            out["case_id"] = _hazard_case(conn, request, settings, principal, row, body)
    after = _elevator(conn, registry.ADMIN, settings, elevator_id)
    return {**out, "elevator_id": elevator_id, "sealed": after["sealed_at"] is not None,
            "sealed_at": after["sealed_at"], "status": after["status"],
            "next_inspection_due": after["next_inspection_due"]}


@router.get("/elevators/{elevator_id}/inspections")
def list_inspections(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                     settings: SettingsDep, page: PageDep) -> list[dict[str, Any]]:
    """Inspections of a visible elevator, newest first."""
    row = _elevator(conn, principal, settings, elevator_id)
    return records.list_inspections(conn, elevator_pk=row["pk"], limit=page.limit,
                                     offset=page.offset)


@router.post("/elevators/{elevator_id}/maintenance", status_code=status.HTTP_201_CREATED)
def record_maintenance(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                       settings: SettingsDep,
                       body: MaintenanceCreate | None = Body(default=None)) -> dict[str, Any]:
    """Record maintenance (the maintenance or property organization of the elevator)."""
    with conn.transaction():
        row = _elevator(conn, principal, settings, elevator_id)
        require(principal, OrgKind.MAINTENANCE, OrgKind.PROPERTY)
        out = records.record_maintenance(conn, elevator_pk=row["pk"],
                                         notes=body.notes if body else None,
                                         org_id=principal.org_id, recorded_by=principal.actor)
    return {**out, "elevator_id": elevator_id}


@router.get("/elevators/{elevator_id}/maintenance")
def list_maintenance(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                     settings: SettingsDep, page: PageDep) -> list[dict[str, Any]]:
    """Maintenance records of a visible elevator, newest first."""
    row = _elevator(conn, principal, settings, elevator_id)
    return records.list_maintenance(conn, elevator_pk=row["pk"], limit=page.limit,
                                    offset=page.offset)
