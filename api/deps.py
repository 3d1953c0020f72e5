"""Dependencies as types: settings, a database connection, the calling organization."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Header, HTTPException, Query, Request, status

from storage import registry
from whistle.domain import OrgKind, Principal
from whistle.settings import Settings


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _connection(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(_settings)]
ConnDep = Annotated[psycopg.Connection, Depends(_connection)]

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _principal(conn: ConnDep, settings: SettingsDep,
               authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "missing Authorization: Bearer TOKEN header", headers=UNAUTHORIZED)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "the Authorization header must be 'Bearer TOKEN'",
                            headers=UNAUTHORIZED)
    if settings.admin_token and hmac.compare_digest(token.encode(),
                                                    settings.admin_token.encode()):
        return Principal(org_id=None, kind=OrgKind.ADMIN, name="admin")
    found = registry.principal_for_token(conn, token=token)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token",
                            headers=UNAUTHORIZED)
    return found


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
