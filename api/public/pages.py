"""The residents' pages at the root (CONTRACT section 7): the page behind the sign's QR
code (/r/{code}), its form, and the follow page of a report with the feedback buttons.
Phone-sized, no JavaScript: plain forms answered with 303 redirects."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.dashboard.web import render
from api.deps import ConnDep, SettingsDep
from api.i18n import N_
from api.public import service, words
from api.public.service import PublicFeedback, PublicReport, TooManyReports
from storage import registry
from storage.cases import queries
from storage.errors import Conflict, NotFound

router = APIRouter(include_in_schema=False)

CODE = re.compile(r"^[A-Za-z0-9]{1,64}$")
TOO_MANY = N_("Too many reports for this elevator from here just now. Try again in "
              "%(minutes)s min; in an emergency, call 96333.")
UNKNOWN_CODE = (N_("Unknown code"), N_("This code belongs to no elevator, or the sign has "
                                       "been replaced. In an emergency, call 96333."))
UNKNOWN_REPORT = (N_("Unknown report"), N_("This link belongs to no report."))


def _gone(request: Request, what: tuple[str, str]) -> Response:
    return render(request, "public/gone.html", None, status_code=404, title=what[0],
                  message=what[1])


def _status(elevator: dict[str, Any]) -> str:
    if elevator["sealed"]:
        return "sealed"
    if elevator["mode_out_of_service"]:
        return "out_of_service"
    return "being_repaired" if elevator["being_repaired"] else "in_service"


def _report_page(request: Request, elevator: dict[str, Any], *, status_code: int = 200,
                 error: str | None = None, error_args: dict[str, Any] | None = None,
                 form: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    response = render(request, "public/report.html", None, status_code=status_code,
                      elevator=elevator, status=_status(elevator), words=words,
                      error=error, error_args=error_args or {}, form=form or {},
                      max_description=service.MAX_DESCRIPTION,
                      max_contact=service.MAX_CONTACT)
    response.headers.update(headers or {})
    return response


@router.get("/r/{code}")
def report_page(code: str, request: Request, conn: ConnDep) -> Response:
    """The page behind the QR code of the elevator's sign."""
    if not CODE.match(code):
        return _gone(request, UNKNOWN_CODE)
    try:
        elevator = registry.by_report_code(conn, report_code=code)
    except NotFound:
        return _gone(request, UNKNOWN_CODE)
    return _report_page(request, elevator)


async def _form(request: Request) -> dict[str, str] | None:
    """The fields of a posted form (the first of each), None when it is too large."""
    try:
        raw = await service.read_limited(request)
    except HTTPException:
        return None
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", errors="replace"),
                                         keep_blank_values=True).items()}


def _first_field(exc: ValidationError) -> str:
    for error in exc.errors():
        if error.get("loc"):
            return str(error["loc"][0])
    return "category"


@router.post("/r/{code}")
async def report_posted(code: str, request: Request, conn: ConnDep,
                        settings: SettingsDep) -> Response:
    """The form of the page: recorded like POST /api/v1/public/reports, then 303 to the
    follow page (or the page again, saying what to fix)."""
    if not CODE.match(code):
        return _gone(request, UNKNOWN_CODE)
    form = await _form(request)
    try:
        elevator = await run_in_threadpool(registry.by_report_code, conn, report_code=code)
    except NotFound:
        return _gone(request, UNKNOWN_CODE)
    if form is None:
        return _report_page(request, elevator, status_code=413,
                            error=words.FORM_ERRORS["too_large"])
    fields: dict[str, str] = {k: form[k] for k in ("category", "description", "contact")
                              if k in form}
    try:
        body = PublicReport.model_validate({"code": code, **fields})
    except ValidationError as exc:
        field = _first_field(exc)
        return _report_page(request, elevator, status_code=422, form=fields,
                            error=words.FORM_ERRORS.get(field, words.FORM_ERRORS["category"]))
    try:
        reference = await run_in_threadpool(service.record, request, conn, settings, body)
    except NotFound:
        return _gone(request, UNKNOWN_CODE)
    except TooManyReports as exc:
        return _report_page(request, elevator, status_code=429, form=fields, error=TOO_MANY,
                            error_args={"minutes": math.ceil(exc.retry_after_s / 60)},
                            headers={"Retry-After": str(exc.retry_after_s)})
    return RedirectResponse(service.follow_path(reference), status_code=303)


def _follow_page(request: Request, row: dict[str, Any], *, status_code: int = 200,
                 error: str | None = None, form: dict[str, str] | None = None) -> Response:
    return render(request, "public/follow.html", None, status_code=status_code, r=row,
                  words=words, error=error, form=form or {},
                  others=max(0, int(row["report_count"]) - 1))


@router.get("/r/follow/{reference}")
def follow_page(reference: str, request: Request, conn: ConnDep) -> Response:
    """The progress of a report's case in words, and the feedback buttons once resolved."""
    if not CODE.match(reference):
        return _gone(request, UNKNOWN_REPORT)
    try:
        row = queries.by_reference(conn, reference=reference)
    except NotFound:
        return _gone(request, UNKNOWN_REPORT)
    return _follow_page(request, row)


@router.post("/r/follow/{reference}/feedback")
async def feedback_posted(reference: str, request: Request, conn: ConnDep) -> Response:
    """Solved or not solved, then 303 back to the follow page."""
    if not CODE.match(reference):
        return _gone(request, UNKNOWN_REPORT)
    form = await _form(request)
    try:
        row = await run_in_threadpool(queries.by_reference, conn, reference=reference)
    except NotFound:
        return _gone(request, UNKNOWN_REPORT)
    if form is None:
        return _follow_page(request, row, status_code=413,
                            error=words.FORM_ERRORS["too_large"])
    fields = {"solved": form.get("solved") == "true", "comment": form.get("comment") or None}
    try:
        body = PublicFeedback.model_validate(fields)
    except ValidationError:
        return _follow_page(request, row, status_code=422, form=form,
                            error=words.FORM_ERRORS["comment"])
    try:
        await run_in_threadpool(service.feedback, request, conn, reference, body)
    except Conflict:
        return _follow_page(request, row, status_code=409,
                            error=words.FORM_ERRORS["not_resolved"])
    return RedirectResponse(service.follow_path(reference), status_code=303)
