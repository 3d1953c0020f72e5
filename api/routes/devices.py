"""Devices' broker credentials (CONTRACT section 8) and the HTTP auth hook for brokers
other than Mosquitto (EMQX, and any broker that can call an HTTP authenticator).

With ``WHISTLE_MQTT_DEVICE_AUTH=on`` the broker takes a new password before the database
keeps its hash (a broker that cannot be reached answers 503 and nothing changes); a
revocation is committed first, so a broker that is down cannot keep a device in, and the
broker is told at once or, if that fails, by the ingester's next reconciliation.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

import psycopg
import structlog
from fastapi import APIRouter, Header, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import ConnDep, PrincipalDep, SettingsDep
from core.domain import OrgKind, Principal
from core.settings import Settings
from messaging import dynsec
from storage import devices, registry

log = structlog.get_logger(__name__)
router = APIRouter(tags=["devices"])


def _device_manager(conn: psycopg.Connection, principal: Principal, elevator_id: str,
                    settings: Settings, *, read: bool = False) -> dict[str, Any]:
    """The elevator, if the caller may manage its device: admin or its maintenance
    organization (and, to read, the supervision of its district); 404 beyond sight."""
    row = registry.get_elevator(conn, principal=principal, elevator_id=elevator_id,
                                offline_after_s=settings.offline_after_s)
    if principal.is_admin or (principal.kind == OrgKind.MAINTENANCE
                              and principal.org_id == row["maintenance_org_id"]):
        return row
    if read and principal.kind == OrgKind.SUPERVISION and principal.district == row["district"]:
        return row
    raise HTTPException(status.HTTP_403_FORBIDDEN,
                        "a device's credentials are managed by admin or the elevator's "
                        "maintenance organization")


def _sync(settings: Settings) -> bool:
    if settings.mqtt_device_auth != "on":
        return False
    if settings.mqtt_url is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "WHISTLE_MQTT_DEVICE_AUTH is on but no broker is configured")
    return True


@router.get("/elevators/{elevator_id}/credentials")
def credentials_status(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                       settings: SettingsDep) -> dict[str, Any]:
    """Whether the device has credentials, who issued them when, and the record; never a
    password or its hash."""
    row = _device_manager(conn, principal, elevator_id, settings, read=True)
    return {"elevator_id": elevator_id, "device_auth": settings.mqtt_device_auth,
            **devices.status(conn, elevator_pk=row["pk"])}


@router.post("/elevators/{elevator_id}/credentials", status_code=status.HTTP_201_CREATED)
def issue_credentials(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                      settings: SettingsDep) -> dict[str, Any]:
    """New broker credentials for the device, shown only in this answer; a second call
    replaces them (the old password stops working and its connection is cut)."""
    row = _device_manager(conn, principal, elevator_id, settings)
    if row["decommissioned_at"] is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this elevator is decommissioned")
    sync = _sync(settings)
    with conn.transaction():
        issued, password = devices.issue(conn, elevator_pk=row["pk"], username=elevator_id,
                                         by=principal.actor)
        if sync:
            try:
                with dynsec.connect(settings.broker) as ds:
                    ds.put_device(elevator_id, password, settings.mqtt_topic_prefix)
            except dynsec.DynsecError as exc:
                log.error("broker did not take device credentials", elevator=elevator_id,
                          error=str(exc))
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                    f"the broker did not take the credentials, nothing "
                                    f"changed: {exc}") from None
    log.info("device credentials issued", elevator=elevator_id, by=principal.actor)
    return {"username": issued["username"], "password": password,
            "issued_at": issued["issued_at"], "issued_by": issued["issued_by"],
            "broker": "in step" if sync else "not managed (WHISTLE_MQTT_DEVICE_AUTH=off)"}


@router.delete("/elevators/{elevator_id}/credentials")
def revoke_credentials(elevator_id: str, conn: ConnDep, principal: PrincipalDep,
                       settings: SettingsDep) -> dict[str, Any]:
    """Revoke the device's credentials: the broker refuses them (and cuts the device off)
    at once; 404 if it has none."""
    row = _device_manager(conn, principal, elevator_id, settings)
    devices.revoke(conn, elevator_pk=row["pk"], by=principal.actor)
    log.info("device credentials revoked", elevator=elevator_id, by=principal.actor)
    return {"elevator_id": elevator_id, "revoked": True,
            "broker": remove_from_broker(settings, elevator_id)}


def remove_from_broker(settings: Settings, elevator_id: str) -> str:
    """Tell the broker a device's login is gone; what happened, in words."""
    if settings.mqtt_device_auth != "on" or settings.mqtt_url is None:
        return "not managed (WHISTLE_MQTT_DEVICE_AUTH=off)"
    try:
        with dynsec.connect(settings.broker) as ds:
            ds.delete_device(elevator_id)
    except dynsec.DynsecError as exc:
        log.error("broker not reached for a revocation; the ingester's reconciliation "
                  "removes the login", elevator=elevator_id, error=str(exc))
        return "pending: the broker was not reached; the next reconciliation removes it"
    return "in step"


# --- the HTTP auth hook (EMQX's HTTP authenticator and authorizer) ------------------------

class HookAuth(BaseModel):
    """What the broker sends to authenticate a client."""

    username: Annotated[str, Field(max_length=200)] = ""
    password: Annotated[str, Field(max_length=200)] = ""
    clientid: Annotated[str, Field(max_length=200)] = ""


class HookAcl(BaseModel):
    """What the broker sends to authorize a publish or a subscribe."""

    username: Annotated[str, Field(max_length=200)] = ""
    topic: Annotated[str, Field(max_length=1000)]
    action: Literal["publish", "subscribe", "all"]


def _hook_secret(settings: Settings, authorization: str | None) -> None:
    secret = settings.broker_hook_secret
    if secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the broker hook is off "
                            "(WHISTLE_BROKER_HOOK_SECRET is not set)")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a broker hook call needs "
                            "Authorization: Bearer <WHISTLE_BROKER_HOOK_SECRET>")


@router.post("/broker/auth", tags=["broker hook"])
def hook_auth(body: HookAuth, conn: ConnDep, settings: SettingsDep,
              authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """``allow`` for a device with its current credentials, ``deny`` for a device with
    wrong ones, ``ignore`` for any other username (the broker's next authenticator, e.g.
    its built-in database holding the service's account, decides)."""
    _hook_secret(settings, authorization)
    if not devices.known(conn, username=body.username):
        return {"result": "ignore"}
    ok = devices.verify(conn, username=body.username, password=body.password)
    return {"result": "allow" if ok else "deny", "is_superuser": False}


@router.post("/broker/acl", tags=["broker hook"])
def hook_acl(body: HookAcl, conn: ConnDep, settings: SettingsDep,
             authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """A device may publish on its own telemetry and state topics and nothing else;
    ``ignore`` for other usernames."""
    _hook_secret(settings, authorization)
    if not devices.known(conn, username=body.username):
        return {"result": "ignore"}
    own = {acl["topic"] for acl in dynsec.device_acls(body.username,
                                                      settings.mqtt_topic_prefix)}
    return {"result": "allow" if body.action == "publish" and body.topic in own else "deny"}
