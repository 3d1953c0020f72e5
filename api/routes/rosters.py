"""Duty rosters and contact channels of an organization (issue 15).

`GET/PUT /orgs/{id}/roster` (weekly shifts and one-off overrides), `GET /orgs/{id}/on-duty`
(who is on duty at an instant), `GET/PUT /orgs/{id}/channels` (people's and the
organization's default channels, and its SMS gateway). The organization's people and
tokens read; its managers and admins write (403 for the others of the organization);
another organization's caller gets 404, as if it did not exist. Secrets and robot URLs
are only ever returned masked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from api.deps import ConnDep, PrincipalDep, SettingsDep
from api.schemas import Body, Instant
from core import netguard, roster, sms
from core.domain import Principal
from storage import registry, rosters
from storage.errors import Invalid, NotFound

router = APIRouter(tags=["rosters"])

HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


def _zone(v: str) -> str:
    roster.zone(v)  # ValueError naming it if unknown
    return v


TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9]{5,20}$")


class ShiftIn(Body):
    """A weekly shift: ISO weekday (1 = Monday), local start and end (an end at or before
    the start runs over midnight), IANA time zone."""

    person_id: int
    weekday: Annotated[int, Field(ge=1, le=7, strict=True)]
    start: HHMM
    end: HHMM
    time_zone: TimeZone = "Asia/Shanghai"


class OverrideIn(Body):
    """A one-off: from start to end the person is on duty instead (`on`) or off."""

    person_id: int
    start: Instant
    end: Instant
    duty: Literal["on", "off"]
    note: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("end")
    @classmethod
    def _after(cls, v: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and v <= start:
            raise ValueError("must lie after start")
        return v


class RosterIn(Body):
    """PUT /orgs/{id}/roster: the whole roster."""

    shifts: Annotated[list[ShiftIn], Field(max_length=500, default_factory=list)]
    overrides: Annotated[list[OverrideIn], Field(max_length=500, default_factory=list)]


class QuietHoursIn(Body):
    """Daily quiet hours of a channel: from and until (local, an until at or before the
    from runs over midnight) in an IANA time zone. Messages of cases that are neither a
    rescue nor critical skip the channel then, for the next one; a rescue always goes."""

    from_: HHMM = Field(alias="from")
    until: HHMM
    time_zone: TimeZone = "Asia/Shanghai"


class ChannelIn(Body):
    """A contact channel: of a person (person_id) or the organization's default."""

    id: int | None = None
    person_id: int | None = None
    kind: Literal["email", "sms", "wecom", "dingtalk", "feishu"]
    target: Annotated[str, Field(min_length=3, max_length=2000)] | None = None
    secret: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    lang: Literal["zh-CN", "en"] = "zh-CN"
    quiet_hours: QuietHoursIn | None = None


class GatewayIn(Body):
    """The organization's SMS gateway: a request template (README "Reaching people")."""

    url: Annotated[str, Field(min_length=8, max_length=2000)]
    method: Literal["POST", "PUT", "GET"] = "POST"
    content_type: Annotated[str, Field(min_length=3, max_length=200)] = "application/json"
    headers: Annotated[dict[str, Annotated[str, Field(max_length=2000)]],
                       Field(max_length=30, default_factory=dict)]
    body: Annotated[str, Field(max_length=8000)]
    api_key: Annotated[str, Field(max_length=500)] | None = None
    api_secret: Annotated[str, Field(max_length=500)] | None = None
    sign_name: Annotated[str, Field(max_length=100)] | None = None
    template_id: Annotated[str, Field(max_length=100)] | None = None
    daily_cap: Annotated[int, Field(ge=0, le=1_000_000, strict=True)] = 200
    signing: Literal["none", "aliyun", "tencent"] = Field(
        default="none", description="sign each request as Aliyun SMS (RPC HMAC-SHA1, "
        "api_key = AccessKeyId, api_secret = AccessKeySecret) or Tencent Cloud SMS "
        "(TC3-HMAC-SHA256, api_key = SecretId, api_secret = SecretKey) require")


class ChannelsIn(Body):
    """PUT /orgs/{id}/channels: every channel (an `id` keeps a current one, and its
    target and secret unless given); `sms_gateway` absent keeps it, null removes it."""

    channels: Annotated[list[ChannelIn], Field(max_length=200, default_factory=list)]
    sms_gateway: GatewayIn | None = None


def _scope(conn: ConnDep, principal: Principal, org_id: int, *, write: bool) -> dict[str, Any]:
    if not principal.is_admin and principal.org_id != org_id:
        raise NotFound(f"organization {org_id} does not exist")
    org = registry.get_org(conn, org_id=org_id)
    if write and not principal.manages(org_id):
        raise HTTPException(403, "only a manager of the organization (or an admin) may do this")
    return org


@router.get("/orgs/{org_id}/roster")
def get_roster(org_id: int, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    """The organization's weekly shifts and one-off overrides."""
    _scope(conn, principal, org_id, write=False)
    return rosters.get_roster(conn, org_id=org_id)


@router.put("/orgs/{org_id}/roster")
def put_roster(org_id: int, body: RosterIn, conn: ConnDep, principal: PrincipalDep
               ) -> dict[str, Any]:
    """Replace the roster whole."""
    _scope(conn, principal, org_id, write=True)
    shifts = [{**s.model_dump(), "start": time.fromisoformat(s.start),
               "end": time.fromisoformat(s.end)} for s in body.shifts]
    overrides = [o.model_dump() for o in body.overrides]
    return rosters.replace_roster(conn, org_id=org_id, shifts=shifts, overrides=overrides,
                                  by=principal.actor)


@router.get("/orgs/{org_id}/on-duty")
def get_on_duty(org_id: int, conn: ConnDep, principal: PrincipalDep,
                at: datetime | None = None) -> dict[str, Any]:
    """Who is on duty at `at` (RFC 3339; default now): `source` says whether an override
    or the weekly shifts decided, or `none` (the default channels are used)."""
    _scope(conn, principal, org_id, write=False)
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        raise Invalid("at", "give a time zone offset (RFC 3339)")
    shifts, overrides = rosters.roster_of(conn, org_ids=[org_id], around=at)[org_id]
    people, source = roster.on_duty(shifts, overrides, at)
    names = rosters.people_names(conn, person_ids=people) if people else {}
    return {"org_id": org_id, "at": at.isoformat(), "source": source,
            "people": [{"person_id": p, "name": names.get(p)} for p in people]}


@router.get("/orgs/{org_id}/channels")
def get_channels(org_id: int, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    """The default channels, the people's channels and the SMS gateway (secrets masked)."""
    _scope(conn, principal, org_id, write=False)
    return rosters.get_channels(conn, org_id=org_id)


def _check_target(i: int, ch: ChannelIn, allow_private: bool) -> None:
    if ch.target is None:
        return
    where = f"channels.{i}.target"
    if ch.kind == "email" and not EMAIL.match(ch.target):
        raise Invalid(where, "not an e-mail address")
    if ch.kind == "sms" and not PHONE.match(ch.target):
        raise Invalid(where, "not a phone number (digits, an optional leading +)")
    if ch.kind in rosters.ROBOTS:
        try:
            netguard.check(ch.target, allow_private=allow_private)
        except netguard.Unresolvable:
            pass
        except netguard.RefusedURL as exc:
            raise Invalid(where, str(exc)) from None


@router.put("/orgs/{org_id}/channels")
def put_channels(org_id: int, body: ChannelsIn, conn: ConnDep, principal: PrincipalDep,
                 settings: SettingsDep) -> dict[str, Any]:
    """Replace the channels (and set or remove the SMS gateway)."""
    _scope(conn, principal, org_id, write=True)
    for i, ch in enumerate(body.channels):
        _check_target(i, ch, settings.webhook_allow_private)
    gw = body.sms_gateway
    if gw is not None:
        problem = sms.check(gw.model_dump())
        if problem:
            raise Invalid("sms_gateway", problem)
        if not gw.url.startswith(("https://", "http://")):
            raise Invalid("sms_gateway.url", "must be an http:// or https:// URL")
    with conn.transaction():
        rosters.replace_channels(conn, org_id=org_id,
                                 channels=[c.model_dump(by_alias=True) for c in body.channels])
        if "sms_gateway" in body.model_fields_set:
            rosters.put_gateway(conn, org_id=org_id,
                                gw=gw.model_dump() if gw is not None else None)
    return rosters.get_channels(conn, org_id=org_id)
