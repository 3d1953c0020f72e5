"""Webhooks of organizations (admin): where Whistle POSTs signed alert notifications."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import Field, field_validator

from api.deps import AdminDep, ConnDep, PageDep, SettingsDep
from api.schemas import Body
from core import netguard
from storage import registry, webhooks
from storage.errors import Invalid

router = APIRouter(tags=["webhooks"])


class WebhookCreate(Body):
    """POST /orgs/{id}/webhooks; a secret is generated when none is given."""

    url: Annotated[str, Field(min_length=8, max_length=2000)]
    secret: Annotated[str, Field(min_length=16, max_length=200)] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")) or " " in v:
            raise ValueError("must be an http:// or https:// URL")
        return v


@router.post("/orgs/{org_id}/webhooks", status_code=status.HTTP_201_CREATED)
def create_webhook(org_id: int, body: WebhookCreate, conn: ConnDep, _admin: AdminDep,
                   settings: SettingsDep) -> dict[str, Any]:
    """Register a webhook; the response shows its signing secret, only this once. The URL
    must be https and resolve to public addresses only (unless
    WHISTLE_WEBHOOK_ALLOW_PRIVATE); a name that does not resolve yet is accepted, since
    every delivery checks again."""
    try:
        netguard.check(body.url, allow_private=settings.webhook_allow_private)
    except netguard.Unresolvable:
        pass
    except netguard.RefusedURL as exc:
        raise Invalid("url", str(exc)) from None
    with conn.transaction():  # the check and the change commit together, before the reply
        registry.get_org(conn, org_id=org_id)
        return webhooks.create(conn, org_id=org_id, url=body.url,
                               secret=body.secret or secrets.token_urlsafe(32))


@router.get("/orgs/{org_id}/webhooks")
def list_webhooks(org_id: int, conn: ConnDep, _admin: AdminDep) -> list[dict[str, Any]]:
    """The webhooks of an organization (without secrets)."""
    registry.get_org(conn, org_id=org_id)
    return webhooks.list_for_org(conn, org_id=org_id)


@router.delete("/orgs/{org_id}/webhooks/{webhook_id}",
               status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(org_id: int, webhook_id: int, conn: ConnDep, _admin: AdminDep) -> Response:
    """Remove a webhook and its delivery records."""
    with conn.transaction():
        webhooks.delete(conn, org_id=org_id, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/orgs/{org_id}/webhooks/{webhook_id}/deliveries")
def list_deliveries(org_id: int, webhook_id: int, conn: ConnDep, _admin: AdminDep,
                    page: PageDep) -> list[dict[str, Any]]:
    """Delivery attempts of a webhook, newest first."""
    return webhooks.deliveries(conn, org_id=org_id, webhook_id=webhook_id,
                               limit=page.limit, offset=page.offset)
