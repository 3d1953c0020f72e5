"""People, tokens and sessions (CONTRACT section 5): an organization's managers (and
admins) create and remove its people and tokens; people sign in with login and password
and get a server-side session; `GET /me` says who is calling.

Another organization's `/orgs/{id}/...` answers 404, as if it did not exist; a person or
token of the organization that is not a manager answers 403 on writes."""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import Field

from api.deps import SESSION_COOKIE, ConnDep, PageDep, PrincipalDep, SettingsDep
from api.schemas import Body as BodyModel
from core.domain import Principal
from storage import access, registry
from storage.errors import Invalid, NotFound

router = APIRouter(tags=["people"])

BAD_SIGN_IN = "wrong login or password"


class PersonCreate(BodyModel):
    """POST /orgs/{id}/people."""

    login: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=10, max_length=200)]
    phone: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    manager: Annotated[bool, Field(strict=True)] = False


class TokenCreate(BodyModel):
    """POST /orgs/{id}/tokens (v2; the v1 body `{}` still works)."""

    label: Annotated[str, Field(max_length=200)] | None = None
    person_id: int | None = None
    expires_at: datetime | None = None
    manager: Annotated[bool, Field(strict=True)] = False


class SignIn(BodyModel):
    """POST /session."""

    login: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


def _scope(conn: ConnDep, principal: Principal, org_id: int, *, write: bool) -> dict[str, Any]:
    """The organization, if the caller may see (and, with write, manage) its people and
    tokens: 404 for another organization, 403 for a non-manager's write."""
    if not principal.is_admin and principal.org_id != org_id:
        raise NotFound(f"organization {org_id} does not exist")
    org = registry.get_org(conn, org_id=org_id)
    if write and not principal.manages(org_id):
        raise HTTPException(403, "only a manager of the organization (or an admin) may do this")
    return org


@router.post("/orgs/{org_id}/people", status_code=status.HTTP_201_CREATED)
def create_person(org_id: int, body: PersonCreate, conn: ConnDep, principal: PrincipalDep
                  ) -> dict[str, Any]:
    """A new person of the organization (its password is stored with argon2id)."""
    _scope(conn, principal, org_id, write=True)
    return access.create_person(conn, org_id=org_id, login=body.login, name=body.name,
                                password=body.password, phone=body.phone,
                                manager=body.manager, created_by=principal.actor)


@router.get("/orgs/{org_id}/people")
def list_people(org_id: int, conn: ConnDep, principal: PrincipalDep, page: PageDep
                ) -> list[dict[str, Any]]:
    """The organization's people."""
    _scope(conn, principal, org_id, write=False)
    return access.list_people(conn, org_id=org_id, limit=page.limit, offset=page.offset)


@router.delete("/orgs/{org_id}/people/{person_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_person(org_id: int, person_id: int, conn: ConnDep, principal: PrincipalDep
                  ) -> Response:
    """Remove a person: their sessions and tokens answer 401 from now on."""
    _scope(conn, principal, org_id, write=True)
    access.delete_person(conn, org_id=org_id, person_id=person_id, by=principal.actor)
    return Response(status_code=204)


@router.post("/orgs/{org_id}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(org_id: int, conn: ConnDep, principal: PrincipalDep,
                 body: TokenCreate | None = Body(default=None)) -> dict[str, Any]:
    """A new token (shown once; only its hash is stored), of the organization or of one
    of its people, with an optional label and expiry."""
    _scope(conn, principal, org_id, write=True)
    body = body or TokenCreate()
    if body.expires_at is not None:
        if body.expires_at.tzinfo is None:
            raise Invalid("expires_at", "give a time zone offset (RFC 3339)")
        if body.expires_at <= datetime.now(UTC):
            raise Invalid("expires_at", "must lie in the future")
    row = access.create_token(conn, org_id=org_id, label=body.label, person_id=body.person_id,
                              expires_at=body.expires_at, manager=body.manager,
                              created_by=principal.actor)
    return {k: row[k] for k in ("id", "token", "label", "person_id", "expires_at", "manager",
                                "org_id", "created_at")}


@router.get("/orgs/{org_id}/tokens")
def list_tokens(org_id: int, conn: ConnDep, principal: PrincipalDep, page: PageDep
                ) -> list[dict[str, Any]]:
    """The organization's tokens (never the token itself)."""
    _scope(conn, principal, org_id, write=True)
    return access.list_tokens(conn, org_id=org_id, limit=page.limit, offset=page.offset)


@router.delete("/orgs/{org_id}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(org_id: int, token_id: int, conn: ConnDep, principal: PrincipalDep
                 ) -> Response:
    """Revoke a token: it answers 401 from now on."""
    _scope(conn, principal, org_id, write=True)
    access.revoke_token(conn, org_id=org_id, token_id=token_id, by=principal.actor)
    return Response(status_code=204)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def set_session_cookie(response: Response, request: Request, session: str,
                       expires_at: datetime) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure unless on a loopback address."""
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict",
                        secure=not _loopback(request), path="/",
                        expires=expires_at.astimezone(UTC))


def sign_in(conn: ConnDep, settings: Any, login: str, password: str
            ) -> tuple[str, dict[str, Any]] | float | None:
    """(session id, body) for a right login and password; the seconds still locked out
    (float) for a locked login; None for a wrong login or password (recorded)."""
    now = datetime.now(UTC)
    locked = access.locked_for(conn, login=login, now=now)
    if locked > 0:
        return locked
    person = access.verify_password(conn, login=login, password=password)
    if person is None:
        access.record_failure(conn, login=login)
        return None
    session, row = access.create_session(
        conn, person_id=person["id"], lifetime=timedelta(hours=settings.session_hours))
    return session, {"org_id": person["org_id"], "person_id": person["id"],
                     "name": person["name"], "kind": person["kind"],
                     "expires_at": row["expires_at"]}


@router.post("/session")
def create_session(body: SignIn, request: Request, conn: ConnDep, settings: SettingsDep
                   ) -> Response:
    """Sign in with login and password: a session cookie (one 401 message for an unknown
    login and a wrong password; 429 after 5 failures of a login within 10 minutes)."""
    done = sign_in(conn, settings, body.login, body.password)
    if isinstance(done, float):
        return JSONResponse(status_code=429, headers={"Retry-After": str(math.ceil(done))},
                            content={"detail": "too many failed sign-ins for this login; "
                                               f"try again in {math.ceil(done)} s"})
    if done is None:
        raise HTTPException(401, BAD_SIGN_IN)
    session, out = done
    response = JSONResponse(content={**out, "expires_at": out["expires_at"].isoformat()})
    set_session_cookie(response, request, session, out["expires_at"])
    return response


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
def end_session(conn: ConnDep, principal: PrincipalDep) -> Response:
    """Sign out: the session ends on the server; its cookie no longer works."""
    if principal.session_id is None:
        raise HTTPException(401, "not signed in with a session (DELETE /session ends one)")
    access.end_session(conn, session_id=principal.session_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me")
def me(conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    """Who is calling: organization, person or token, manager or not."""
    org_name = principal.name
    if principal.org_id is not None:
        org_name = registry.get_org(conn, org_id=principal.org_id)["name"]
    return {"org_id": principal.org_id, "org_name": org_name, "kind": principal.kind.value,
            "district": principal.district, "person_id": principal.person_id,
            "name": principal.person_name, "token_id": principal.token_id,
            "token_label": principal.token_label, "manager": principal.manager,
            "actor": principal.actor}
