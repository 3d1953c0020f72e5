"""Reports for supervision: response statistics per organization, and alert history.

``GET /reports/response`` is for supervision (its own district only: asking for another
district is a 403, since the report is a supervision duty of that district) and admin (any
district, or all). ``GET /reports/alerts.csv`` exports the alerts the caller can see, like
``GET /alerts``; a district outside the caller's scope simply yields no rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from api.deps import ConnDep, PrincipalDep, require
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
Start = Annotated[datetime | None, Query(description="from (RFC 3339); default: end - 30 "
                                                    "days")]
End = Annotated[datetime | None, Query(description="until, exclusive (RFC 3339); default: "
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


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Rows as CSV with a header line; values that look like formulas are defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
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
def get_response_report(conn: ConnDep, principal: PrincipalDep, start: Start = None,
                        end: End = None, district: District = None,
                        format: Format = Format.JSON) -> dict[str, Any] | Response:
    """Per organization: alerts received, times to acknowledge and arrive (median, worst),
    rescues against the 30-minute rule, overdue inspections and maintenance."""
    report = response_report(conn, principal, start=start, end=end, district=district)
    if format is Format.JSON:
        return report
    totals = {"org_name": "all organizations", "alerts_received": report["totals"]["alerts"],
              **{k: v for k, v in report["totals"].items() if k != "alerts"}}
    text = csv_text(ORG_COLUMNS, [*report["organizations"], totals])
    where = report["district"] or "all"
    return csv_response(text, f"whistle-response-{where}-{_stamp(report['start'])}-"
                              f"{_stamp(report['end'])}.csv")


@router.get("/reports/alerts.csv", response_class=Response)
def get_alert_history(conn: ConnDep, principal: PrincipalDep, start: Start = None,
                      end: End = None,
                      district: Annotated[str | None, Query(min_length=1, max_length=200)]
                      = None) -> Response:
    """The visible alerts opened in [start, end), oldest first, as CSV: who was responsible
    when each happened, who acknowledged, arrived and resolved, and how fast."""
    start, end = time_range(start, end)
    rows = reports.alert_history(conn, principal=principal, start=start, end=end,
                                 district=district, now=datetime.now(UTC),
                                 limit=MAX_HISTORY_ROWS)
    return csv_response(csv_text(HISTORY_COLUMNS, rows),
                        f"whistle-alerts-{district or 'all'}-{_stamp(start)}-{_stamp(end)}.csv")
