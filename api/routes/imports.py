"""POST /elevators/import: a city's registry from one CSV or JSON file (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import imports
from api.deps import AdminDep, ConnDep
from storage import bulk

router = APIRouter(tags=["elevators"])

FILE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}


def refused(exc: bulk.Refused) -> JSONResponse:
    """422 with every problem of the file, each with its line and field."""
    problems = [p.as_dict() for p in exc.problems]
    first = problems[0]
    return JSONResponse(status_code=422, content={
        "detail": f"{len(problems)} problem(s), nothing was imported; line {first['line']}, "
                  f"{first['field']}: {first['message']}",
        "errors": problems})


@router.post("/elevators/import", status_code=status.HTTP_201_CREATED,
             openapi_extra=FILE_BODY, response_model=None)
async def import_registry(request: Request, conn: ConnDep, admin: AdminDep
                          ) -> dict[str, int] | JSONResponse:
    """Register the organizations, sites and elevators of a CSV (`text/csv`) or JSON
    (`application/json`) file; the whole file is checked first and nothing is written if
    any row is wrong (422, every problem with its line and field)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return refused(bulk.Refused([bulk.Problem(raw.count(b"\n", 0, exc.start) + 1,
                                                  "file", "the file is not UTF-8 text")]))
    as_json = imports.is_json(request.headers.get("content-type", ""), text)

    def run() -> dict[str, int]:
        plan = imports.parse(text, json_format=as_json)
        return bulk.import_registry(conn, plan, recorded_by=admin.actor).as_dict()

    try:
        return await run_in_threadpool(run)
    except bulk.Refused as exc:
        return refused(exc)
