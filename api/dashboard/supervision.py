"""The supervision view: the response report of GET /reports/response and the duty report
of GET /reports/duty as a page."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import i18n
from api.dashboard.fleet import all_pages
from api.dashboard.web import PagePrincipal, PageRoute, page_lang, render
from api.deps import ConnDep, SettingsDep, require
from api.routes.duty_report import duty_report
from api.routes.reports import DEFAULT_RANGE, response_report
from api.schemas import EARLIEST, LATEST, OUT_OF_RANGE
from core.domain import OrgKind
from storage import registry
from storage.errors import Invalid

router = APIRouter(route_class=PageRoute, include_in_schema=False)

DayParam = Annotated[str | None, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")]


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(field, "must be a date like 2026-11-27") from None
    if not EARLIEST.date() <= day < LATEST.date():
        raise Invalid(field, OUT_OF_RANGE)
    return day


@router.get("/supervision")
def supervision(request: Request, conn: ConnDep, settings: SettingsDep, principal: PagePrincipal,
                start: DayParam = None, end: DayParam = None,
                district: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """Per organization: alerts received, response times, rescues, overdue records."""
    require(principal, OrgKind.SUPERVISION)
    zone = i18n.zone(settings.timezone)
    last = _day(end, "end") or datetime.now(zone).date()
    first = _day(start, "start") or last - DEFAULT_RANGE + timedelta(days=1)
    if first > last:
        raise Invalid("start", "must not be after end")
    # Whole days of the configured time zone, the end day included.
    t0 = datetime.combine(first, time(), zone)
    t1 = datetime.combine(last + timedelta(days=1), time(), zone)
    report = response_report(conn, principal, start=t0, end=t1, district=district or None)
    try:
        duty: dict[str, Any] | None = duty_report(conn, principal, start=t0, end=t1,
                                                  district=report["district"])
        duty_error = None
    except Invalid as exc:  # the duty report spans at most 366 days
        duty, duty_error = None, exc.message
    # The downloads are in the page's language (column names too).
    query = {"start": t0.isoformat(), "end": t1.isoformat(),
             i18n.LANG_PARAM: page_lang(request)[0].code}
    if report["district"]:
        query["district"] = report["district"]
    districts = ([] if not principal.is_admin else sorted({s["district"] for s in all_pages(
        lambda limit, offset: registry.list_sites(conn, principal=principal, limit=limit,
                                                  offset=offset))}))
    return render(request, "supervision.html", principal, nav="supervision", report=report,
                  first=first, last=last, districts=districts,
                  csv_report="/api/v1/reports/response?" + urlencode(
                      {**query, "format": "csv"}),
                  csv_alerts="/api/v1/reports/alerts.csv?" + urlencode(query),
                  duty=duty, duty_error=duty_error,
                  csv_duty="/api/v1/reports/duty?" + urlencode({**query, "format": "csv"}))
