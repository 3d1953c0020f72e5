"""Feishu (飞书) custom group robot: POST ``{"msg_type": "text", "content": {"text": ...}}``
to ``https://open.feishu.cn/open-apis/bot/v2/hook/...``.

With a signing secret ("签名校验"): ``timestamp`` in seconds; string_to_sign = timestamp +
"\\n" + secret is the HMAC-SHA256 *key* over an empty message; ``sign`` = base64 of it;
both go in the body. It answers ``{"code": 0}`` (older robots: ``{"StatusCode": 0}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from rules.notify.channels import Message, post_checked, robot_answer

__all__ = ["Feishu", "body", "sign"]


def sign(*, secret: str, timestamp: int) -> str:
    """The documented signature."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def body(message: Message, *, secret: str | None, now: float) -> dict[str, Any]:
    """The request body of a message (signed when the robot has a secret)."""
    out: dict[str, Any] = {"msg_type": "text", "content": {"text": message.text}}
    if secret:
        ts = int(now)
        out = {"timestamp": str(ts), "sign": sign(secret=secret, timestamp=ts), **out}
    return out


class Feishu:
    """The Feishu group robot adapter."""

    kind = "feishu"

    def __init__(self, http: httpx.Client, *, allow_private: bool = False) -> None:
        self.http = http
        self.allow_private = allow_private

    def send(self, *, target: str, secret: str | None, message: Message, now: float) -> None:
        """POST the text message, signed."""
        response = post_checked(self.http, target, json=body(message, secret=secret, now=now),
                                allow_private=self.allow_private)
        robot_answer(response, code_field="code")
