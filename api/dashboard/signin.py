"""Signing in: a person with login and password (a server-side session), or a machine's
organization token (kept in an HttpOnly cookie); signing out ends either."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from api import deps, guards
from api.dashboard.web import TOKEN_EXPIRED, PageRoute, render, safe_next
from api.deps import ConnDep, SettingsDep
from api.i18n import N_
from api.routes import people
from storage import access

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_FORM_BYTES = 8192


def _cross_site(request: Request) -> bool:
    """A form posted from another site (a browser says so in Origin): refused, so no page
    elsewhere can sign you in as someone else or out."""
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host")


@router.get("/signin")
def signin_form(request: Request,
                next: Annotated[str | None, Query(max_length=2000)] = None,
                expired: Annotated[str | None, Query(max_length=8)] = None) -> Response:
    """The sign-in form."""
    message = TOKEN_EXPIRED if expired else None
    return render(request, "signin.html", None, next=safe_next(next), error=message)


@router.post("/signin")
async def signin(request: Request, conn: ConnDep, settings: SettingsDep) -> Response:
    """Check the token exactly as the API does, then keep it in the session cookie."""
    if _cross_site(request):
        raise HTTPException(403, "sign in from Whistle's own sign-in page")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return render(request, "signin.html", None, status_code=413, next="/",
                      error=N_("The form is too large."))
    form = parse_qs(body.decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    login = (form.get("login") or [""])[0].strip()
    password = (form.get("password") or [""])[0]
    target = safe_next((form.get("next") or ["/"])[0])
    if login or password:
        return _person_sign_in(request, conn, settings, login, password, target)
    if not token:
        return render(request, "signin.html", None, status_code=422, next=target,
                      open_token=True,
                      error=N_("Enter your login and password, or an API token."))
    try:
        deps.principal_for_token(conn, settings, token)
    except HTTPException:
        return render(request, "signin.html", None, status_code=401, next=target,
                      open_token=True, error=N_("This token is unknown or has been revoked."))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(deps.TOKEN_COOKIE, token, httponly=True, samesite="strict",
                        secure=not guards.came_to_loopback(request.scope), path="/")
    return response


def _person_sign_in(request: Request, conn: ConnDep, settings: SettingsDep, login: str,
                    password: str, target: str) -> Response:
    """Login and password: a server-side session, as POST /api/v1/session gives."""
    if not login or not password:
        return render(request, "signin.html", None, status_code=422, next=target,
                      error=N_("Enter your login and password, or an API token."))
    done = people.sign_in(conn, settings, login[:200], password[:200])
    if isinstance(done, float):
        locked = render(request, "signin.html", None, status_code=429, next=target,
                        error=N_("Too many failed sign-ins for this login; try again in "
                                 "a few minutes."))
        locked.headers["Retry-After"] = str(math.ceil(done))
        return locked
    if done is None:
        return render(request, "signin.html", None, status_code=401, next=target,
                      error=N_("Wrong login or password."))
    session, out = done
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(deps.TOKEN_COOKIE, path="/")
    people.set_session_cookie(response, request, session, out["expires_at"])
    return response


@router.post("/signout")
def signout(request: Request, conn: ConnDep) -> Response:
    """End the session on the server (a person) or forget the token."""
    if _cross_site(request):
        raise HTTPException(403, "sign out from Whistle's own pages")
    session = request.cookies.get(deps.SESSION_COOKIE)
    if session:
        person = access.principal_for_session(conn, session=session)
        if person is not None and person.session_id is not None:
            access.end_session(conn, session_id=person.session_id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(deps.TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(deps.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
