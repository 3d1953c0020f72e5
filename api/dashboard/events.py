"""GET /events: the alert stream of GET /api/v1/alerts/stream for the signed-in dashboard.

EventSource sends the sign-in cookie but cannot set an Authorization header, and the API's
stream reads the token from the header or ``?token=``; this passes the cookie's token on,
so the token never appears in a URL (nor in the page, the cookie being HttpOnly).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from api.deps import UNAUTHORIZED
from api.routes import stream

router = APIRouter(include_in_schema=False)


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request,
                 elevator_id: Annotated[str | None, Query(max_length=64)] = None,
                 whistle_token: Annotated[str | None, Cookie()] = None) -> StreamingResponse:
    """Server-sent `alert` events of the alerts the signed-in organization sees."""
    if not whistle_token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first",
                            headers=UNAUTHORIZED)
    return await stream.stream(request, token=whistle_token, elevator_id=elevator_id,
                               authorization=None)
