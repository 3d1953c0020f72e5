"""Every refusal is a 4xx that says what is wrong; only bugs are 500s."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from storage.errors import Conflict, Invalid, NotFound

log = structlog.get_logger(__name__)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _validation(_r: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid"),
               "type": e.get("type")} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse(status_code=422, content=jsonable_encoder(
        {"detail": detail, "errors": errors}))


async def _invalid(_r: Request, exc: Invalid) -> JSONResponse:
    return JSONResponse(status_code=422, content={
        "detail": str(exc), "errors": [{"field": exc.field, "message": exc.message}]})


async def _not_found(_r: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


async def _conflict(_r: Request, exc: Conflict) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc)})


async def _data_error(request: Request, exc: psycopg.Error) -> JSONResponse:
    # Values PostgreSQL refuses (out of range, failed CHECK): the caller's data, so a 422.
    # Its message may quote a table, a constraint or a row: it stays in the log (without
    # message_detail, which can hold a whole row) and the caller reads a fixed sentence.
    log.warning("value refused by the database", path=request.url.path,
                sqlstate=exc.sqlstate, error=exc.diag.message_primary,
                constraint=exc.diag.constraint_name)
    return JSONResponse(status_code=422, content={
        "detail": "a value of this request is out of the range the service accepts"})


async def _query_canceled(request: Request, exc: psycopg.errors.QueryCanceled) -> JSONResponse:
    # statement_timeout (WHISTLE_API_STATEMENT_TIMEOUT_S) ended the query; the connection
    # is back in the pool, ready for the next request.
    log.warning("query cancelled", path=request.url.path, error=exc.diag.message_primary)
    return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
        "detail": "the query took too long and was cancelled; narrow the request (a "
                  "shorter range, a smaller page) or try again later"})


async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
    # Date or number arithmetic on a value at the edge of its type (year 1, year 9999).
    log.warning("value out of range", path=request.url.path, error=str(exc))
    return JSONResponse(status_code=422, content={
        "detail": "a value of this request is out of the range the service accepts"})


async def _db_down(_r: Request, exc: psycopg.OperationalError) -> JSONResponse:
    log.error("database unavailable", error=str(exc))
    return JSONResponse(status_code=503, content={"detail": "the database is unavailable"},
                        headers={"Retry-After": "5"})


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(Invalid, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Conflict, _conflict)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.errors.DataError, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.errors.CheckViolation, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(OverflowError, _overflow)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.OperationalError, _db_down)  # type: ignore[arg-type]
    # A subclass of OperationalError: the more specific handler is the one used.
    app.add_exception_handler(psycopg.errors.QueryCanceled, _query_canceled)  # type: ignore[arg-type]
