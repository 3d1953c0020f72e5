"""Dependencies as types: settings, a database connection, the calling organization."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Cookie, Depends, Header, HTTPException, Query, Request, status

from core.domain import OrgKind, Principal
from core.settings import Settings
from storage import access


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _connection(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(_settings)]
# scope="function": the connection goes back to the pool before the response is sent.
ConnDep = Annotated[psycopg.Connection, Depends(_connection, scope="function")]

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


# The dashboard's sign-in with a token keeps it in this cookie (HttpOnly, SameSite=Strict);
# a person's sign-in gets a server-side session whose random id is in SESSION_COOKIE.
TOKEN_COOKIE = "whistle_token"
SESSION_COOKIE = "whistle_session"
ADMIN_TOKEN_LABEL = "WHISTLE_ADMIN_TOKEN"


def principal_for_token(conn: psycopg.Connection, settings: Settings, token: str) -> Principal:
    """The caller behind a token (the admin token or a stored one); 401 if unknown."""
    if settings.admin_token and hmac.compare_digest(token.encode(),
                                                    settings.admin_token.encode()):
        return Principal(org_id=None, kind=OrgKind.ADMIN, name="admin",
                         token_label=ADMIN_TOKEN_LABEL)
    found = access.principal_for_token(conn, token=token)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token",
                            headers=UNAUTHORIZED)
    return found


def _principal(conn: ConnDep, settings: SettingsDep,
               authorization: Annotated[str | None, Header()] = None,
               whistle_token: Annotated[str | None, Cookie(
                   description="the dashboard's sign-in cookie, used only without an "
                               "Authorization header")] = None,
               whistle_session: Annotated[str | None, Cookie(
                   description="a person's session (POST /session), used only without an "
                               "Authorization header")] = None) -> Principal:
    if not authorization:
        if whistle_session and whistle_session.strip():
            person = access.principal_for_session(conn, session=whistle_session.strip())
            if person is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                    "the session has ended or expired; sign in again",
                                    headers=UNAUTHORIZED)
            return person
        if whistle_token and whistle_token.strip():
            return principal_for_token(conn, settings, whistle_token.strip())
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "missing Authorization: Bearer TOKEN header", headers=UNAUTHORIZED)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "the Authorization header must be 'Bearer TOKEN'",
                            headers=UNAUTHORIZED)
    return principal_for_token(conn, settings, token)


PrincipalDep = Annotated[Principal, Depends(_principal)]


def _admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin token may do this")
    return principal


AdminDep = Annotated[Principal, Depends(_admin)]


def require(principal: Principal, *kinds: OrgKind) -> None:
    """403 unless the caller is an admin or of one of the kinds."""
    if not principal.is_admin and principal.kind not in kinds:
        allowed = ", ".join(["admin", *kinds])
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a {principal.kind} organization may not do this (allowed: {allowed})")


class Page:
    """limit and offset of a list."""

    def __init__(self, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0)] = 0) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Page, Depends()]
