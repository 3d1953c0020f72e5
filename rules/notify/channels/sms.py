"""SMS through the organization's HTTP gateway (a request template, :mod:`core.sms`).

The request is rendered with the recipient's phone number, the message's short text and
fields, and the gateway's keys, then signed as Aliyun or Tencent Cloud require when the
gateway says so (:mod:`core.smssign`); a 2xx answer is a delivery, unless its JSON says otherwise
the way Aliyun (``"Code"`` other than ``"OK"``) and Tencent Cloud (``Response.Error``)
do. The daily cap of the organization is checked by the sender before this is called.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from core import sms, smssign
from rules.notify.channels import DeliveryError, Message, post_checked

__all__ = ["Sms"]


class Sms:
    """The SMS gateway adapter of one organization."""

    kind = "sms"

    def __init__(self, http: httpx.Client, gateway: dict[str, Any] | None, *,
                 allow_private: bool = False) -> None:
        self.http = http
        self.gateway = gateway
        self.allow_private = allow_private

    def send(self, *, target: str, secret: str | None, message: Message, now: float) -> None:
        """Render the gateway's template and send it."""
        if self.gateway is None:
            raise DeliveryError("the organization has no SMS gateway")
        gw = self.gateway
        values = {**message.fields, "phone": target, "text": message.short,
                  "sign_name": gw.get("sign_name") or "", "template_id":
                  gw.get("template_id") or "", "api_key": gw.get("api_key") or "",
                  "api_secret": gw.get("api_secret") or "", "timestamp": str(int(now or
                                                                               time.time())),
                  "nonce": uuid.uuid4().hex}
        try:
            method, url, headers, body = sms.render(gw, values)
            method, headers, body = _signed(gw, method, url, headers, body, now)
        except (KeyError, ValueError) as exc:
            raise DeliveryError(f"the gateway's template does not render: {exc}") from None
        response = post_checked(self.http, url, content=body, headers=headers,
                                method=method, allow_private=self.allow_private)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            return
        if isinstance(answer, dict):
            if "Code" in answer and answer["Code"] != "OK":
                raise DeliveryError(f"the gateway refused: {str(answer['Code'])[:80]}")
            error = (answer.get("Response") or {}).get("Error") if isinstance(
                answer.get("Response"), dict) else None
            if error:
                raise DeliveryError(f"the gateway refused: {str(error.get('Code'))[:80]}")


def _signed(gw: dict[str, Any], method: str, url: str, headers: dict[str, str], body: bytes,
            now: float) -> tuple[str, dict[str, str], bytes]:
    """The request signed as its provider requires (core.smssign), if the gateway says so."""
    signing = gw.get("signing") or "none"
    key, secret = str(gw.get("api_key") or ""), str(gw.get("api_secret") or "")
    if signing == "aliyun":
        return method, headers, smssign.aliyun(method, body, access_key_id=key,
                                               secret=secret, now=now or time.time())
    if signing == "tencent":
        return method, smssign.tencent(headers, body, host=urlsplit(url).netloc,
                                       secret_id=key, secret_key=secret), body
    return method, headers, body
