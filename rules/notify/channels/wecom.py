"""Enterprise WeChat (企业微信) group robot: POST ``{"msgtype": "markdown", "markdown":
{"content": ...}}`` to the robot's webhook URL
(``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...``); it answers
``{"errcode": 0, "errmsg": "ok"}``. Its markdown content is limited to 4096 bytes."""

from __future__ import annotations

from typing import Any

import httpx

from rules.notify.channels import Message, post_checked, robot_answer

__all__ = ["WeCom", "body"]

LIMIT = 4096


def body(message: Message) -> dict[str, Any]:
    """The request body of a message."""
    content = message.markdown.encode()[:LIMIT].decode(errors="ignore")
    return {"msgtype": "markdown", "markdown": {"content": content}}


class WeCom:
    """The enterprise WeChat group robot adapter."""

    kind = "wecom"

    def __init__(self, http: httpx.Client, *, allow_private: bool = False) -> None:
        self.http = http
        self.allow_private = allow_private

    def send(self, *, target: str, secret: str | None, message: Message, now: float) -> None:
        """POST the markdown message to the robot."""
        response = post_checked(self.http, target, json=body(message),
                                allow_private=self.allow_private)
        robot_answer(response, code_field="errcode")



