"""Reports for supervision: response statistics per organization, and alert history.

``GET /reports/response`` is for supervision (its own district only: asking for another
district is a 403, since the report is a supervision duty of that district) and admin (any
district, or all). ``GET /reports/alerts.csv`` exports the alerts the caller can see, like
``GET /alerts``; a district outside the caller's scope simply yields no rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response

from api import i18n
from api.deps import ConnDep, PrincipalDep, require
from api.i18n import N_
from api.schemas import Instant
from core.domain import OrgKind, Principal
from storage import reports
from storage.errors import Invalid

router = APIRouter(tags=["reports"])

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=3660)
MAX_HISTORY_ROWS = 100_000
CSV_TYPE = "text/csv; charset=utf-8"

District = Annotated[str | None, Query(min_length=1, max_length=200,
                                       description="a district; default: the caller's own "
                                                   "(supervision) or all (admin)")]
Start = Annotated[Instant | None, Query(description="from (RFC 3339); default: end - 30 "
                                                    "days")]
Lang = Annotated[str | None, Query(
    max_length=16, description="zh-CN or en: CSV column names in that language (default: "
                               "the dashboard's whistle_lang cookie, else the machine names)")]
End = Annotated[Instant | None, Query(description="until, exclusive (RFC 3339); default: "
                                                  "now")]

ORG_COLUMNS = ("org_id", "org_name", "org_kind", "org_district", "elevators",
               "alerts_received", "acknowledged", "arrived", "resolved", "never_acknowledged",
               "ack_median_s", "ack_worst_s", "arrive_median_s", "arrive_worst_s", "rescues",
               "rescues_late", "inspections_overdue", "maintenance_overdue")
HISTORY_COLUMNS = ("id", "elevator_id", "elevator_name", "site_name", "district", "kind",
                   "severity", "state", "opened_at", "raised_at", "responsible_org_id",
                   "responsible_org", "maintenance_org", "escalation_level",
                   "acknowledged_at", "acknowledged_by", "acknowledged_by_org", "arrived_at",
                   "arrived_by", "resolved_at", "resolved_by", "time_to_ack_s",
                   "time_to_arrive_s", "rescue_late", "note")

# Column names of the CSV downloads in people's words, for a caller that chose a language
# (``?lang=`` or the dashboard's cookie); scripts get the machine names above.
COLUMN_LABELS = {
    "org_id": N_("organization id"), "org_name": N_("organization"),
    "org_kind": N_("organization kind"), "org_district": N_("organization district"),
    "elevators": N_("elevators"), "alerts_received": N_("alerts received"),
    "acknowledged": N_("reported for duty"), "arrived": N_("arrived on site"),
    "resolved": N_("resolved"), "never_acknowledged": N_("never reported for duty"),
    "ack_median_s": N_("median to report for duty (s)"),
    "ack_worst_s": N_("worst to report for duty (s)"),
    "arrive_median_s": N_("median to arrive (s)"), "arrive_worst_s": N_("worst to arrive (s)"),
    "rescues": N_("rescues"), "rescues_late": N_("rescues late"),
    "inspections_overdue": N_("inspections overdue"),
    "maintenance_overdue": N_("maintenance overdue"),
    "id": N_("alert id"), "elevator_id": N_("elevator id"), "elevator_name": N_("elevator"),
    "site_name": N_("site"), "district": N_("district"), "kind": N_("alert kind"),
    "severity": N_("severity"), "state": N_("state"), "opened_at": N_("condition began"),
    "raised_at": N_("raised"), "responsible_org_id": N_("responsible organization id"),
    "responsible_org": N_("responsible organization"),
    "maintenance_org": N_("maintenance company"), "escalation_level": N_("escalation level"),
    "acknowledged_at": N_("reported for duty at"),
    "acknowledged_by": N_("reported for duty by"),
    "acknowledged_by_org": N_("organization that reported for duty"),
    "arrived_at": N_("arrived on site at"), "arrived_by": N_("arrived on site by"),
    "resolved_at": N_("resolved at"), "resolved_by": N_("resolved by"),
    "time_to_ack_s": N_("time to report for duty (s)"),
    "time_to_arrive_s": N_("time to arrive (s)"), "rescue_late": N_("rescue late"),
    "note": N_("note"),
}
ALL_ORGANIZATIONS = N_("all organizations")
ALL_DISTRICTS = N_("all")
FILE_RESPONSE = N_("whistle-response")
FILE_ALERTS = N_("whistle-alerts")


def _words(request: Request) -> Callable[[str], str] | None:
    """gettext of the language the caller chose, or None (machine column names) if none."""
    lang = i18n.explicit(request)
    return i18n.translations(lang).gettext if lang else None


def _headers(words: Callable[[str], str] | None, columns: Sequence[str]) -> list[str] | None:
    return None if words is None else [words(COLUMN_LABELS[c]) for c in columns]


class Format(StrEnum):
    """How a report is returned."""

    JSON = "json"
    CSV = "csv"


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """[start, end) with defaults (the last 30 days) and naive times taken as UTC."""
    end = _aware(end) or datetime.now(UTC)
    start = _aware(start) or end - DEFAULT_RANGE
    if start >= end:
        raise Invalid("start", "must be before end")
    if end - start > MAX_RANGE:
        raise Invalid("start", "the range may span at most 10 years")
    return start, end


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def report_district(principal: Principal, district: str | None) -> str | None:
    """The district a response report covers; 403 beyond the caller's."""
    require(principal, OrgKind.SUPERVISION)
    if principal.is_admin:
        return district
    if district is not None and district != principal.district:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a supervision organization reports on its own district "
                            f"({principal.district}) only")
    return principal.district


def response_report(conn: psycopg.Connection, principal: Principal, *, start: datetime | None,
                    end: datetime | None, district: str | None) -> dict[str, Any]:
    """The response report as a dict (shared with the dashboard's supervision view)."""
    district = report_district(principal, district)
    start, end = time_range(start, end)
    now = datetime.now(UTC)
    body = reports.response(conn, start=start, end=end, district=district, now=now)
    return {"start": start, "end": end, "district": district, "generated_at": now,
            "rescue_limit_s": reports.RESCUE_LIMIT_S,
            "maintenance_every_days": reports.MAINTENANCE_EVERY_DAYS, **body}


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        return ""
    # A cell starting like a formula would run in a spreadsheet: make it plain text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]],
             headers: Sequence[str] | None = None) -> str:
    """Rows as CSV with a header line (the column names unless headers are given); values
    that look like formulas are defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers or columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def content_disposition(filename: str) -> str:
    """An attachment header for a file name in any script: an ASCII fallback ``filename=``
    and the UTF-8 name as ``filename*=`` (RFC 6266 / RFC 5987), so a district named in
    Chinese downloads as 雁塔区-....csv instead of failing the response."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_"
                       for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def csv_response(text: str, filename: str) -> Response:
    """A CSV download."""
    return Response(text, media_type=CSV_TYPE,
                    headers={"Content-Disposition": content_disposition(filename)})


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


@router.get("/reports/response", response_model=None)
def get_response_report(request: Request, conn: ConnDep, principal: PrincipalDep,
                        start: Start = None,
                        end: End = None, district: District = None,
                        format: Format = Format.JSON, lang: Lang = None
                        ) -> dict[str, Any] | Response:
    """Per organization: alerts received, times to acknowledge and arrive (median, worst),
    rescues against the 30-minute rule, overdue inspections and maintenance."""
    report = response_report(conn, principal, start=start, end=end, district=district)
    if format is Format.JSON:
        return report
    chosen = _words(request)
    words = chosen or (lambda s: s)
    totals = {"org_name": words(ALL_ORGANIZATIONS),
              "alerts_received": report["totals"]["alerts"],
              **{k: v for k, v in report["totals"].items() if k != "alerts"}}
    text = csv_text(ORG_COLUMNS, [*report["organizations"], totals],
                    _headers(chosen, ORG_COLUMNS))
    where = report["district"] or words(ALL_DISTRICTS)
    return csv_response(text, f"{words(FILE_RESPONSE)}-{where}-{_stamp(report['start'])}-"
                              f"{_stamp(report['end'])}.csv")


@router.get("/reports/alerts.csv", response_class=Response)
def get_alert_history(request: Request, conn: ConnDep, principal: PrincipalDep,
                      start: Start = None, end: End = None,
                      district: Annotated[str | None, Query(min_length=1, max_length=200)]
                      = None, lang: Lang = None) -> Response:
    """The visible alerts opened in [start, end), oldest first, as CSV: who was responsible
    when each happened, who acknowledged, arrived and resolved, and how fast."""
    start, end = time_range(start, end)
    rows = reports.alert_history(conn, principal=principal, start=start, end=end,
                                 district=district, now=datetime.now(UTC),
                                 limit=MAX_HISTORY_ROWS)
    chosen = _words(request)
    words = chosen or (lambda s: s)
    return csv_response(csv_text(HISTORY_COLUMNS, rows, _headers(chosen, HISTORY_COLUMNS)),
                        f"{words(FILE_ALERTS)}-{district or words(ALL_DISTRICTS)}-"
                        f"{_stamp(start)}-{_stamp(end)}.csv")
