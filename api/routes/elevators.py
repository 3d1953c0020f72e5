"""Elevators: registry, status, telemetry history and handovers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from api.deps import AdminDep, ConnDep, PageDep, PrincipalDep, SettingsDep, require
from api.routes.devices import remove_from_broker
from api.schemas import Body, ElevatorCreate, ElevatorPatch, Handover, Instant
from core.domain import ElevatorStatus, OrgKind, Principal
from storage import alerts, decommission, registry, telemetry
from storage.errors import Invalid

router = APIRouter(tags=["elevators"])

REGISTRY_FIELDS = ("id", "site_id", "site_name", "district", "name", "rated_speed_mps",
                   "rated_load_kg", "min_floor", "max_floor", "travel_m", "landings_m",
                   "model", "maintenance_org_id", "property_org_id", "next_inspection_due",
                   "registered_at", "status", "last_seen", "connection", "registration_code",
                   "rescue_code", "decommissioned_at", "decommissioned_by",
                   "decommission_reason")
BUCKET = re.compile(r"^(\d+)(s|m|h|d)$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKETS = 20_000
MAX_SAMPLES = 10_000  # a page of telemetry, raw samples or buckets
MAX_RAW_RANGE = timedelta(days=31)
MAX_BUCKETED_RANGE = timedelta(days=366)
MAX_BACKDATE = timedelta(minutes=5)


def elevator_out(row: dict[str, Any]) -> dict[str, Any]:
    """The public shape of an elevator row."""
    out = {k: row.get(k) for k in REGISTRY_FIELDS}
    out["sealed"] = row.get("sealed_at") is not None
    out["sealed_at"] = row.get("sealed_at")
    return out


@router.post("/elevators", status_code=status.HTTP_201_CREATED)
def create_elevator(body: ElevatorCreate, conn: ConnDep, admin: AdminDep) -> dict[str, Any]:
    """Register an elevator at a site."""
    row = registry.create_elevator(
        conn, recorded_by=admin.actor, id=body.id, site_id=body.site_id, name=body.name,
        rated_speed_mps=body.rated_speed_mps, rated_load_kg=body.rated_load_kg,
        min_floor=body.min_floor, max_floor=body.max_floor, travel_m=body.travel_m,
        landings_m=body.landings(), model=body.model,
        maintenance_org_id=body.maintenance_org_id,
        next_inspection_due=body.next_inspection_due,
        registration_code=body.registration_code, rescue_code=body.rescue_code)
    return elevator_out(row)


@router.get("/elevators")
def list_elevators(conn: ConnDep, principal: PrincipalDep, settings: SettingsDep,
                   page: PageDep, site_id: int | None = None,
                   status: ElevatorStatus | None = None,
                   district: Annotated[str | None, Query(max_length=200)] = None,
                   q: Annotated[str | None, Query(
                       min_length=1, max_length=100,
                       description="id, name, registration code or rescue code")] = None,
                   responsible: Annotated[str | None, Query(
                       pattern="^none$", description="`none`: only elevators without a "
                       "property or maintenance organization")] = None,
                   include: Annotated[str | None, Query(
                       pattern="^decommissioned$", description="`decommissioned`: list "
                       "decommissioned elevators too")] = None
                   ) -> list[dict[str, Any]]:
    """The elevators the caller is responsible for or supervises, each with its status;
    decommissioned ones only with ``include=decommissioned``."""
    rows = registry.list_elevators(
        conn, principal=principal, offline_after_s=settings.offline_after_s,
        limit=page.limit, offset=page.offset, site_id=site_id,
        status=status.value if status else None, district=district, q=q,
        nobody_responsible=responsible == "none", decommissioned=include == "decommissioned")
    return [elevator_out(r) for r in rows]


@router.get("/elevators/{elevator_id}")
def get_elevator(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                 settings: SettingsDep) -> dict[str, Any]:
    """Registry fields, status, last_seen, the latest sample and open alerts."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    out = elevator_out(row)
    out["report_code"] = row.get("report_code")  # for those who see it; never public
    out["latest"] = row.get("latest")
    out["last_ts"] = row.get("last_ts")
    out["open_alerts"] = alerts.open_for_elevator(conn, elevator_pk=row["pk"])
    out["property_history"] = registry.property_history(conn, elevator_pk=row["pk"])
    out["maintenance_history"] = registry.maintenance_history(conn, elevator_pk=row["pk"])
    return out


@router.patch("/elevators/{elevator_id}")
def patch_elevator(elevator_id: str, body: ElevatorPatch, conn: ConnDep,
                   principal: PrincipalDep, settings: SettingsDep) -> dict[str, Any]:
    """Change registry fields (admin); the supervision of the district may set
    `next_inspection_due`. A new maintenance organization closes the elevator's
    responsibility gap."""
    from storage import responsibility

    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise Invalid("body", "give at least one field to change")
    if not principal.is_admin and (principal.kind != OrgKind.SUPERVISION
                                   or set(changes) != {"next_inspection_due"}):
        raise HTTPException(403, "registry fields are changed by admin; the supervision "
                                     "of the district may set next_inspection_due")
    for key in ("name", "rated_speed_mps", "rated_load_kg"):
        if key in changes and changes[key] is None:
            raise Invalid(key, "cannot be removed")
    registry.patch_elevator(conn, elevator_pk=row["pk"], changes=changes,
                            recorded_by=principal.actor)
    responsibility.settle_gaps_now(conn, actor=principal.actor, org_id=principal.org_id)
    return get_elevator(elevator_id, conn, principal, settings)


def not_in_the_past(principal: Principal, effective_at: datetime | None) -> None:
    """Refuse (422) a change of responsibility dated more than 5 minutes back, unless an
    admin makes it: it would rewrite who was responsible for past alerts."""
    if (effective_at is not None and not principal.is_admin
            and effective_at < datetime.now(UTC) - MAX_BACKDATE):
        raise Invalid("effective_at", "may not lie more than 5 minutes in the past (only an "
                                      "admin may record an earlier handover)")


def _bucket_seconds(bucket: str) -> int:
    m = BUCKET.match(bucket)
    if not m or int(m.group(1)) == 0:
        raise Invalid("bucket", "use a width like 10s, 1m, 15m, 1h or 1d")
    return int(m.group(1)) * UNIT_S[m.group(2)]


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


@router.get("/elevators/{elevator_id}/telemetry")
def get_telemetry(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                  settings: SettingsDep, start: Instant | None = None,
                  end: Instant | None = None,
                  bucket: Annotated[str | None, Query(max_length=16)] = None,
                  limit: Annotated[int, Query(ge=1, le=MAX_SAMPLES)] = MAX_SAMPLES,
                  offset: Annotated[int, Query(ge=0)] = 0
                  ) -> list[dict[str, Any]]:
    """Samples in [start, end) (default: the last hour), or aggregates per bucket, oldest
    first, a page of at most 10,000; the range spans at most 31 days raw, 366 bucketed."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    end = _aware(end) or datetime.now(UTC)
    start = _aware(start) or end - timedelta(hours=1)
    if start >= end:
        raise Invalid("start", "must be before end")
    longest = MAX_RAW_RANGE if bucket is None else MAX_BUCKETED_RANGE
    if end - start > longest:
        raise Invalid("start", f"the range from start to end may span at most "
                               f"{MAX_RAW_RANGE.days} days of raw samples, or "
                               f"{MAX_BUCKETED_RANGE.days} days with bucket")
    if bucket is None:
        return telemetry.raw(conn, elevator_pk=row["pk"], start=start, end=end, limit=limit,
                             offset=offset)
    width = _bucket_seconds(bucket)
    if (end - start).total_seconds() / width > MAX_BUCKETS:
        raise Invalid("bucket", f"{bucket} gives more than {MAX_BUCKETS} buckets "
                               "over this range; widen it")
    return telemetry.buckets(conn, elevator_pk=row["pk"], start=start, end=end,
                             bucket_s=width, limit=limit, offset=offset)


@router.post("/elevators/{elevator_id}/handover")
def handover(elevator_id: str, body: Handover, conn: ConnDep, principal: PrincipalDep,
             settings: SettingsDep) -> dict[str, Any]:
    """Move the elevator to another property organization; the history is kept."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    require(principal, OrgKind.SUPERVISION)
    not_in_the_past(principal, body.effective_at)
    registry.handover(conn, elevator_pk=row["pk"], property_org_id=body.property_org_id,
                      effective_at=body.effective_at, recorded_by=principal.actor)
    return get_elevator(elevator_id, conn, registry.ADMIN, settings)


class Decommission(Body):
    """POST /elevators/{id}/decommission."""

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("/elevators/{elevator_id}/decommission")
def decommission_elevator(elevator_id: str, body: Decommission, conn: ConnDep,
                          principal: PrincipalDep, settings: SettingsDep) -> dict[str, Any]:
    """Take the elevator out of service for good (admin; supervision of its district): it
    leaves the default lists, its telemetry is rejected and its open alerts are resolved;
    409 if it already is."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    if not principal.is_admin and (principal.kind != OrgKind.SUPERVISION
                                   or principal.district != row["district"]):
        raise HTTPException(403, "an elevator is decommissioned by admin or the "
                                 "supervision of its district")
    decommission.decommission(conn, elevator_pk=row["pk"], reason=body.reason,
                              actor=principal.actor, org_id=principal.org_id)
    remove_from_broker(settings, elevator_id)  # its device login, if it had one
    return get_elevator(elevator_id, conn, principal, settings)
