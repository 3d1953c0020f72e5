"""The duty report, ``GET /reports/duty`` (CONTRACT section 6): per organization, the cases
it had to report for duty on, in time, late or never, and how fast it answered, arrived
and resolved (see :mod:`storage.cases.report` for every definition).

For supervision, street and admin. A district organization reports on its own district:
asking for another one answers 404, as anything beyond a caller's scope does; admin asks
for any district, or all. JSON by default; CSV (UTF-8 with a byte order mark, so a
spreadsheet opens Chinese names) with ``Accept: text/csv`` or ``format=csv``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ConnDep, PrincipalDep, require
from api.i18n import N_
from api.routes.reports import (
    COLUMN_LABELS,
    DEFAULT_RANGE,
    District,
    Format,
    Lang,
    _stamp,
    _words,
    content_disposition,
    csv_text,
)
from core.cases import RESCUE_ARRIVAL_TARGET_S
from core.domain import OrgKind, Principal
from storage.cases import report
from storage.errors import Invalid, NotFound

router = APIRouter(tags=["reports"])

MAX_RANGE = timedelta(days=366)
BOM = "\ufeff"

DUTY_LABELS = {
    **{c: COLUMN_LABELS[c] for c in ("org_id", "org_name", "org_kind", "org_district")},
    "cases_required": N_("cases where required"),
    "on_duty_in_time": N_("reported for duty in time"),
    "on_duty_late": N_("reported for duty late"),
    "never": N_("never reported for duty"), "pending": N_("not yet due"),
    "cases_on_duty": N_("cases reported for duty on"),
    "on_duty_median_s": N_("median to report for duty (s)"),
    "on_duty_worst_s": N_("worst to report for duty (s)"),
    "arrive_median_s": N_("median to arrive (s)"), "arrive_worst_s": N_("worst to arrive (s)"),
    "resolve_median_s": N_("median to resolve (s)"),
    "resolve_worst_s": N_("worst to resolve (s)"),
    "rescues": N_("rescues"), "rescues_arrived_in_time": N_("rescues arrived within 30 min"),
    "reopened": N_("cases reopened"),
}
FILE_DUTY = N_("whistle-duty")
ALL_DISTRICTS = N_("all")

DutyStart = Annotated[datetime | None, Query(description="cases opened from (RFC 3339); "
                                                         "default: end - 30 days")]
DutyEnd = Annotated[datetime | None, Query(description="until, exclusive (RFC 3339); "
                                                       "default: now")]


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def duty_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """[start, end): defaults to the last 30 days; end after start; at most 366 days."""
    end = _aware(end) or datetime.now(UTC)
    try:
        start = _aware(start) or end - DEFAULT_RANGE
    except OverflowError:
        raise Invalid("end", "is too early to have 30 days before it") from None
    if end <= start:
        raise Invalid("end", "must be after start")
    if end - start > MAX_RANGE:
        raise Invalid("end", "the range may span at most 366 days")
    return start, end


def duty_district(principal: Principal, district: str | None) -> str | None:
    """The district the report covers: the caller's own (404 for another), or any (admin)."""
    require(principal, OrgKind.SUPERVISION, OrgKind.STREET)
    if principal.is_admin:
        return district
    if district is not None and district != principal.district:
        raise NotFound(f"district {district} does not exist")
    return principal.district


def duty_report(conn: psycopg.Connection, principal: Principal, *, start: datetime | None,
                end: datetime | None, district: str | None) -> dict[str, Any]:
    """The duty report as a dict (shared with the dashboard's supervision view)."""
    district = duty_district(principal, district)
    start, end = duty_range(start, end)
    now = datetime.now(UTC)
    body = report.duty(conn, start=start, end=end, district=district, now=now)
    return {"start": start, "end": end, "district": district, "generated_at": now,
            "rescue_arrival_target_s": RESCUE_ARRIVAL_TARGET_S, **body}


def _wants_csv(request: Request, format: Format | None) -> bool:
    if format is not None:
        return format is Format.CSV
    accept = request.headers.get("accept", "")
    return "text/csv" in accept.lower()


@router.get("/reports/duty", response_model=None)
def get_duty_report(request: Request, conn: ConnDep, principal: PrincipalDep,
                    start: DutyStart = None, end: DutyEnd = None, district: District = None,
                    format: Format | None = None, lang: Lang = None
                    ) -> dict[str, Any] | Response:
    """Per organization: cases where it was required; reported for duty in time, late,
    never; median and worst seconds to report for duty, arrive and resolve; rescues
    reached within 30 minutes; reopened cases. JSON, or CSV with `Accept: text/csv`."""
    body = duty_report(conn, principal, start=start, end=end, district=district)
    if not _wants_csv(request, format):
        return body
    chosen = _words(request)
    words = chosen or (lambda s: s)
    headers = None if chosen is None else [chosen(DUTY_LABELS[c]) for c in report.ORG_COLUMNS]
    text = csv_text(report.ORG_COLUMNS, body["organizations"], headers)
    where = body["district"] or words(ALL_DISTRICTS)
    filename = (f"{words(FILE_DUTY)}-{where}-{_stamp(body['start'])}-"
                f"{_stamp(body['end'])}.csv")
    return Response(BOM + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": content_disposition(filename),
                             "Vary": "Accept, Cookie"})
