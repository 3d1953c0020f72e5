"""The residents' JSON API (CONTRACT section 7), without a token: report a problem from the
sign's code, read a report by its reference, give feedback once it is resolved."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from api.deps import ConnDep, SettingsDep
from api.public import service
from api.public.service import PublicFeedback, PublicReport, TooManyReports
from storage.cases import queries
from storage.errors import NotFound

router = APIRouter(tags=["public"])

Reference = Annotated[str, Path(max_length=64)]
M = TypeVar("M", bound=BaseModel)


def _doc(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def _parse(model: type[M], raw: bytes) -> M:
    """The body as a model, refused like every other body (422 naming the field)."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.post("/public/reports", status_code=status.HTTP_201_CREATED,
             openapi_extra=_doc(PublicReport))
async def create_report(request: Request, conn: ConnDep, settings: SettingsDep) -> Any:
    """A resident reports a problem: joins the elevator's open case of its kind or opens
    one; 429 with Retry-After past the limits."""
    body = _parse(PublicReport, await service.read_limited(request))
    try:
        reference = await run_in_threadpool(service.record, request, conn, settings, body)
    except TooManyReports as exc:
        return JSONResponse(status_code=429, content={"detail": str(exc)},
                            headers={"Retry-After": str(exc.retry_after_s)})
    url = service.base_url(request, settings) + service.follow_path(reference)
    return {"reference": reference, "follow_url": url}


def _report(conn: ConnDep, reference: str) -> dict[str, Any]:
    if not reference.isalnum():
        raise NotFound("no report has this reference")
    return queries.by_reference(conn, reference=reference)


@router.get("/public/reports/{reference}")
def get_report(reference: Reference, conn: ConnDep) -> dict[str, Any]:
    """A report and the progress of its case, for the holder of the reference."""
    return service.public_view(_report(conn, reference))


@router.post("/public/reports/{reference}/feedback", openapi_extra=_doc(PublicFeedback))
async def give_feedback(reference: Reference, request: Request,
                        conn: ConnDep) -> dict[str, Any]:
    """Solved (the case closes) or not solved (it reopens); 409 before it is resolved."""
    body = _parse(PublicFeedback, await service.read_limited(request))
    def give() -> dict[str, Any]:
        _report(conn, reference)
        service.feedback(request, conn, reference, body)
        return service.public_view(_report(conn, reference))

    return await run_in_threadpool(give)
