"""Channels that reach people (issue 15): each a small adapter behind one interface.

:class:`Channel` ``.send(target=, secret=, message=, now=)`` delivers one
:class:`Message` or raises :class:`DeliveryError` (its text goes on the record: it never
holds a secret). Adapters: :mod:`.email` (SMTP), :mod:`.wecom`, :mod:`.dingtalk` and
:mod:`.feishu` (group robots) and :mod:`.sms` (an HTTP gateway from a request template).
The robots' URLs are checked like webhooks' (core.netguard: https to public addresses,
unless allow_private), and the request goes to an address that was checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from core import netguard

__all__ = ["Channel", "DeliveryError", "Message", "post_checked"]


@dataclass(frozen=True, slots=True)
class Message:
    """One notification in one language, in every shape a channel may need."""

    lang: str
    subject: str
    text: str
    markdown: str
    html: str
    short: str  # an SMS
    fields: dict[str, str] = field(default_factory=dict)  # for SMS request templates

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        """A message as stored on a notification row."""
        return cls(**data)


class DeliveryError(Exception):
    """The channel did not take the message (the text is recorded; no secrets in it)."""


class Channel(Protocol):
    """Delivers a message to one target."""

    kind: str

    def send(self, *, target: str, secret: str | None, message: Message, now: float) -> None:
        """Deliver, or raise DeliveryError."""


def post_checked(http: httpx.Client, url: str, *, allow_private: bool,
                 json: Any | None = None, content: bytes | None = None,
                 headers: dict[str, str] | None = None, method: str = "POST"
                 ) -> httpx.Response:
    """Send to a checked address of the URL (netguard), with the URL's own Host header and
    TLS server name; DeliveryError for a refused URL or a connection failure."""
    try:
        target = netguard.check(url, allow_private=allow_private)
    except netguard.RefusedURL as exc:
        raise DeliveryError(f"refused, not sent: {exc}") from None
    parsed = httpx.URL(url)
    request_headers = {**(headers or {}), "Host": parsed.netloc.decode("ascii"),
                       "User-Agent": "Whistle/1"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    last: Exception | None = None
    for ip in target.addresses:
        try:
            return http.request(method, parsed.copy_with(host=str(ip)), json=json,
                                content=content, headers=request_headers,
                                extensions=extensions)
        except httpx.ConnectError as exc:
            last = exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__} to {target.host}") from None
    raise DeliveryError(f"cannot connect to {target.host}: {type(last).__name__}")


def robot_answer(response: httpx.Response, *, code_field: str) -> None:
    """The robots answer HTTP 200 with ``{"errcode": 0}`` (``{"code": 0}`` for Feishu)
    when they took the message; anything else is an error."""
    if response.status_code != 200:
        raise DeliveryError(f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise DeliveryError("the robot's answer is not JSON") from None
    code = body.get(code_field, body.get("StatusCode")) if isinstance(body, dict) else None
    if code not in (0, "0"):
        msg = str(body.get("errmsg") or body.get("msg") or "")[:120] if isinstance(
            body, dict) else ""
        raise DeliveryError(f"the robot refused: {code_field}={code} {msg}".strip())
