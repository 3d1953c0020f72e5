"""DingTalk (钉钉) custom group robot: POST ``{"msgtype": "markdown", "markdown":
{"title": ..., "text": ...}}`` to ``https://oapi.dingtalk.com/robot/send?access_token=...``.

With a signing secret ("加签", the ``SEC...`` string): ``timestamp`` is the current time in
milliseconds; ``sign`` = urlencode(base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" +
secret))), both added as query parameters. It answers ``{"errcode": 0}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

import httpx

from rules.notify.channels import Message, post_checked, robot_answer

__all__ = ["DingTalk", "body", "sign", "signed_url"]


def sign(*, secret: str, timestamp_ms: int) -> str:
    """The documented signature (base64, before URL encoding)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
                            ).decode()


def signed_url(url: str, *, secret: str | None, now: float) -> str:
    """The robot URL with ``timestamp`` and ``sign`` when it has a secret."""
    if not secret:
        return url
    ts = int(now * 1000)
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={ts}&sign={quote_plus(sign(secret=secret, timestamp_ms=ts))}"


def body(message: Message) -> dict[str, Any]:
    """The request body of a message."""
    return {"msgtype": "markdown", "markdown": {"title": message.subject[:64],
                                                "text": message.markdown}}


class DingTalk:
    """The DingTalk group robot adapter."""

    kind = "dingtalk"

    def __init__(self, http: httpx.Client, *, allow_private: bool = False) -> None:
        self.http = http
        self.allow_private = allow_private

    def send(self, *, target: str, secret: str | None, message: Message, now: float) -> None:
        """POST the markdown message, signed."""
        response = post_checked(self.http, signed_url(target, secret=secret, now=now),
                                json=body(message), allow_private=self.allow_private)
        robot_answer(response, code_field="errcode")
