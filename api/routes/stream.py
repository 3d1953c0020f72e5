"""GET /alerts/stream and GET /cases/stream: server-sent events of alert and case changes,
scoped to the caller's token.

EventSource cannot set headers, so a single-use ticket (``POST /alerts/stream/ticket``,
valid 60 s) may come as ``?ticket=``; a token never goes in the URL (URLs end up in logs).
The dashboard's pages use their sign-in cookie. Each alert change
is one ``alert`` event whose ``data`` is ``{"change": ..., "alert": {<alert object>}}``
and whose ``id`` is the change's sequence number; each case change the caller may see is
one ``case`` event, ``{"change": ..., "case": {<case object, without contacts>}}`` with
id ``case-<sequence number>``. ``/alerts/stream`` sends both (a client listening only for
``alert`` events is unaffected), ``/cases/stream`` only case events. A comment line is
sent every 15 s to keep proxies from closing the connection. Events are not replayed after
a reconnect: a dashboard reloads ``GET /alerts`` (``GET /cases``) when it reconnects.

Backed by PostgreSQL LISTEN/NOTIFY (channels ``whistle_alerts`` and ``whistle_cases``), so
it works when the rules service runs in another process: one listening connection per API
process is shared by every stream, opened with the first and closed with the last.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import psycopg
import structlog
from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import deps
from core.domain import Principal
from storage import access, alerts, outbox
from storage.cases import CASES_CHANNEL
from storage.cases import queries as case_queries
from storage.db import connect
from storage.scope import can_see

log = structlog.get_logger(__name__)
router = APIRouter(tags=["alerts"])
cases_router = APIRouter(tags=["cases"])

KEEPALIVE_S = 15.0
RETRY_MS = 5000
SUBSCRIBER_QUEUE = 1000
READY_TIMEOUT_S = 5.0
RECONNECT_S = 1.0

Row = dict[str, Any]


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def event_text(*, seq: Any, change: str, alert: Row) -> str:
    """One SSE `alert` event."""
    public = {k: v for k, v in alert.items() if not k.startswith("scope_")}
    data = json.dumps({"change": change, "alert": public}, default=_default,
                      separators=(",", ":"))
    return f"event: alert\nid: {seq}\ndata: {data}\n\n"


def case_event_text(*, seq: Any, change: str, case: Row) -> str:
    """One SSE `case` event (never a contact)."""
    data = json.dumps({"change": change, "case": case_queries.without_contacts(case)},
                      default=_default, separators=(",", ":"))
    return f"event: case\nid: case-{seq}\ndata: {data}\n\n"


ALERT_EVENTS = frozenset({"alert", "case"})
CASE_EVENTS = frozenset({"case"})


@dataclass(eq=False)
class _Subscription:
    principal: Principal
    loop: asyncio.AbstractEventLoop
    elevator_id: str | None
    events: frozenset[str] = ALERT_EVENTS
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    overflow: bool = False

    def offer(self, text: str) -> None:
        """Runs on the event loop: queue an event, or mark the stream as fallen behind."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflow = True


class AlertHub:
    """The LISTEN connection of one API process, fanning changes out to SSE streams."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._lock = threading.Lock()
        self._subs: set[_Subscription] = set()
        self._stop: threading.Event | None = None
        self.ready = threading.Event()

    @classmethod
    def of(cls, app: FastAPI) -> AlertHub:
        """The app's hub, created on first use."""
        with _HUB_LOCK:
            hub: AlertHub | None = getattr(app.state, "alert_hub", None)
            if hub is None:
                hub = cls(app.state.settings.database_url)
                app.state.alert_hub = hub
            return hub

    def subscribe(self, principal: Principal, loop: asyncio.AbstractEventLoop,
                  elevator_id: str | None, events: frozenset[str] = ALERT_EVENTS
                  ) -> _Subscription:
        """A new stream; starts listening if it is the first."""
        sub = _Subscription(principal, loop, elevator_id, events)
        with self._lock:
            self._subs.add(sub)
            if self._stop is None:
                self._stop = threading.Event()
                self.ready.clear()
                threading.Thread(target=self._run, args=(self._stop,), daemon=True,
                                 name="whistle-alert-hub").start()
        return sub

    def unsubscribe(self, sub: _Subscription) -> None:
        """A stream ended; stops listening after the last."""
        with self._lock:
            self._subs.discard(sub)
            if not self._subs and self._stop is not None:
                self._stop.set()
                self._stop = None

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with connect(self.database_url, autocommit=True) as conn:
                    outbox.listen(conn, outbox.ALERTS_CHANNEL, CASES_CHANNEL)
                    self.ready.set()
                    while not stop.is_set():
                        got = list(outbox.received(conn, timeout=0.5))
                        if got:
                            self._dispatch(conn, got)
            except psycopg.Error as exc:
                log.warning("alert stream lost its database connection", error=str(exc))
                stop.wait(RECONNECT_S)

    def _dispatch(self, conn: psycopg.Connection, notes: list[tuple[str, Row]]) -> None:
        """Read what the notifications name (as it is now, with who may see it) and offer
        each event, in the order of the notifications, to the streams that may see it."""
        alert_ids = sorted({int(p["alert_id"]) for c, p in notes
                            if c == outbox.ALERTS_CHANNEL and "alert_id" in p})
        case_ids = sorted({int(p["case_id"]) for c, p in notes
                           if c == CASES_CHANNEL and "case_id" in p})
        alert_rows = ({r["id"]: r for r in alerts.with_scope(conn, alert_ids=alert_ids)}
                      if alert_ids else {})
        case_rows = ({r["id"]: r for r in case_queries.with_scope(conn, case_ids=case_ids)}
                     if case_ids else {})
        with self._lock:
            subs = list(self._subs)
        for channel, note in notes:
            seq, change = note.get("outbox_id", ""), note.get("change", "")
            if channel == CASES_CHANNEL:
                row = case_rows.get(note.get("case_id"))
                if row is None:
                    continue
                text = case_event_text(seq=seq, change=change, case=row)
                self._offer(subs, "case", row, text, case_queries.can_see)
            else:
                row = alert_rows.get(note.get("alert_id"))
                if row is None:
                    continue
                text = event_text(seq=seq, change=change, alert=row)
                self._offer(subs, "alert", row, text, can_see)

    def _offer(self, subs: list[_Subscription], event: str, row: Row, text: str,
               sees: Any) -> None:
        for sub in subs:
            if event not in sub.events or sub.elevator_id not in (None, row["elevator_id"]):
                continue
            if sees(sub.principal, row):
                try:
                    sub.loop.call_soon_threadsafe(sub.offer, text)
                except RuntimeError:  # its event loop is closed: the server stopped
                    self.unsubscribe(sub)


_HUB_LOCK = threading.Lock()


def _authenticate(request: Request, ticket: str | None, authorization: str | None
                  ) -> Principal:
    """`?ticket=` (single-use, from POST /alerts/stream/ticket), else the Authorization
    header, else the dashboard's cookies (a person's session, or a token); 401 if none."""
    settings = request.app.state.settings
    if "token" in request.query_params:
        raise HTTPException(401, "?token= is no longer accepted (a token in a URL ends up in "
                                 "logs): POST /alerts/stream/ticket and use ?ticket=",
                            headers=deps.UNAUTHORIZED)
    with request.app.state.pool.connection() as conn:
        if ticket is not None:
            found = access.redeem_ticket(conn, ticket=ticket.strip())
            if found == "admin" and settings.admin_token:
                return deps.principal_for_token(conn, settings, settings.admin_token)
            if isinstance(found, Principal):
                return found
            raise HTTPException(401, "unknown, used or expired stream ticket",
                                headers=deps.UNAUTHORIZED)
        return deps._principal(conn, settings, authorization,
                               request.cookies.get(deps.TOKEN_COOKIE),
                               request.cookies.get(deps.SESSION_COOKIE))


def _respond(request: Request, principal: Principal, elevator_id: str | None,
             events_wanted: frozenset[str]) -> StreamingResponse:
    hub = AlertHub.of(request.app)
    sub = hub.subscribe(principal, asyncio.get_running_loop(), elevator_id, events_wanted)

    async def events() -> Any:
        try:
            await run_in_threadpool(hub.ready.wait, READY_TIMEOUT_S)
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            while not sub.overflow:
                try:
                    text = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield text
            yield "event: overflow\ndata: {}\n\n"  # fell behind: reconnect and reload
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache",
                                      "X-Accel-Buffering": "no"})


TicketQuery = Annotated[str | None, Query(
    max_length=100, description="a single-use ticket from POST /alerts/stream/ticket, for "
                                "EventSource (which cannot set headers)")]


@router.post("/alerts/stream/ticket", status_code=201)
def stream_ticket(conn: deps.ConnDep, principal: deps.PrincipalDep) -> dict[str, Any]:
    """A single-use ticket, valid 60 s, to open `/alerts/stream` or `/cases/stream` with
    `?ticket=` where headers cannot be set; the stream checks the credential again."""
    ticket, expires_at = access.create_ticket(conn, principal=principal)
    return {"ticket": ticket, "expires_at": expires_at}


@router.get("/alerts/stream", response_class=StreamingResponse)
async def stream(request: Request, ticket: TicketQuery = None,
                 elevator_id: Annotated[str | None, Query(max_length=64)] = None,
                 authorization: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """Server-sent events of changes of the alerts (`alert` events) and cases (`case`
    events) the caller sees."""
    principal = await run_in_threadpool(_authenticate, request, ticket, authorization)
    return _respond(request, principal, elevator_id, ALERT_EVENTS)


@cases_router.get("/cases/stream", response_class=StreamingResponse)
async def cases_stream(request: Request, ticket: TicketQuery = None,
                       elevator_id: Annotated[str | None, Query(max_length=64)] = None,
                       authorization: Annotated[str | None, Header()] = None
                       ) -> StreamingResponse:
    """Server-sent `case` events of changes of the cases the caller sees (with
    `elevator_id`: that elevator's cases only)."""
    principal = await run_in_threadpool(_authenticate, request, ticket, authorization)
    return _respond(request, principal, elevator_id, CASE_EVENTS)
