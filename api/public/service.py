"""What the JSON API and the pages of the residents share (CONTRACT section 7): the body
models, the rate limits, recording a report exactly once, the reporter's feedback and the
public view of a report (never a contact, nobody's description)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import FastAPI, HTTPException, Request
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import Field

from api.public.client import client_address
from api.routes.cases import case_limits
from api.schemas import Body
from core import cases
from core.cases import Action, CaseKind, Refusal, check
from core.domain import OrgKind
from core.settings import Settings
from storage import registry
from storage.cases import changes, duty
from storage.errors import Conflict, Invalid

Category = Literal["trapped", "stopped", "door", "noise", "complaint", "other"]
MAX_DESCRIPTION = 1000
MAX_CONTACT = 64
MAX_BODY_BYTES = 16 * 1024  # 1,000 Chinese characters are 9 KB once form-encoded
CODE_PATTERN = r"^[A-Za-z0-9]{1,64}$"

# Per API process (in-memory, moving window): several API processes each count their own.
PER_ADDRESS: RateLimitItem = RateLimitItemPerMinute(5, 10)
PER_ELEVATOR: RateLimitItem = RateLimitItemPerHour(30)


class PublicReport(Body):
    """POST /public/reports."""

    code: Annotated[str, Field(pattern=CODE_PATTERN, description="the sign's report code")]
    category: Category
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""
    contact: Annotated[str, Field(max_length=MAX_CONTACT)] | None = None


class PublicFeedback(Body):
    """POST /public/reports/{reference}/feedback."""

    solved: Annotated[bool, Field(strict=True)]
    comment: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None


class TooManyReports(Exception):
    """Over a rate limit; retry after this many seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many reports for this elevator; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class PublicState:
    """What one app keeps for the residents: the rate limiter (the case limits are
    api.routes.cases.case_limits, read again when the rules file changes)."""

    limiter: MovingWindowRateLimiter

    def admit(self, elevator_pk: int, address: str) -> None:
        """Count a report, or raise TooManyReports without counting it."""
        checks = ((PER_ADDRESS, ("report", str(elevator_pk), address)),
                  (PER_ELEVATOR, ("report-all", str(elevator_pk))))
        for item, ids in checks:
            if not self.limiter.test(item, *ids):
                reset = self.limiter.get_window_stats(item, *ids).reset_time
                raise TooManyReports(max(1, math.ceil(reset - time.time())))
        for item, ids in checks:
            self.limiter.hit(item, *ids)


def state(app: FastAPI) -> PublicState:
    """The app's PublicState, made on first use."""
    found: PublicState | None = getattr(app.state, "public", None)
    if found is None:
        found = PublicState(MovingWindowRateLimiter(MemoryStorage()))
        app.state.public = found
    return found


def base_url(request: Request, settings: Settings) -> str:
    """The public base URL: WHISTLE_PUBLIC_URL, else this request's."""
    return settings.public_url or str(request.base_url).rstrip("/")


def follow_path(reference: str) -> str:
    """The follow page of a report, at the root."""
    return f"/r/follow/{reference}"


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body; 413 once it passes ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def record(request: Request, conn: psycopg.Connection, settings: Settings,
           body: PublicReport) -> str:
    """Record a resident's report (joins or opens the elevator's case of its kind); its
    reference. NotFound for an unknown code, TooManyReports past the limits."""
    elevator = registry.by_report_code(conn, report_code=body.code)
    public = state(request.app)
    public.admit(int(elevator["pk"]), client_address(request, settings.trusted_networks))
    kind = cases.CATEGORY_KIND[body.category]
    severity = cases.SEVERITY[kind] if kind == CaseKind.RESCUE else cases.REPORT_SEVERITY
    with conn.transaction():
        _case_id, reference, _opened = changes.report(
            conn, elevator_pk=int(elevator["pk"]), site_id=int(elevator["site_id"]),
            kind=kind, category=body.category, description=body.description,
            contact=body.contact or None, limits=case_limits(request, settings)[kind],
            severity=severity.value, now=datetime.now(UTC))
    return reference


def feedback(request: Request, conn: psycopg.Connection, reference: str,
             body: PublicFeedback) -> None:
    """The reporter's word on a resolved case: solved closes it, not solved reopens it.
    NotFound for an unknown reference; Conflict before the case is resolved."""
    with conn.transaction():
        report, case = duty.lock_reference(conn, reference=reference)
        try:
            # A resident is no organization; the check of feedback looks only at the state.
            check(Action.FEEDBACK, kind=case["kind"], state=case["state"],
                  actor_kind=OrgKind.COMMUNITY)
        except Refusal as refusal:
            if refusal.status == 409:
                raise Conflict(refusal.message) from None
            raise Invalid("solved", refusal.message) from None
        duty.feedback(conn, report=report, case=case, solved=body.solved,
                      comment=body.comment or None,
                      limits=case_limits(request, request.app.state.settings)[
                          CaseKind(case["kind"])], now=datetime.now(UTC))


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """A report as its holder may read it (storage.cases.by_reference's row)."""
    return {"reference": row["reference"], "category": row["category"],
            "state": row["state"], "opened_at": row["opened_at"],
            "updated_at": row["updated_at"],
            "parties": [{k: p.get(k) for k in ("org_name", "kind", "on_duty_at",
                                                "arrived_at")} for p in row["parties"]],
            "resolved_at": row["resolved_at"], "cause": row["cause"],
            "report_count": row["report_count"]}
