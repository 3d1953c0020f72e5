"""Two ASGI middlewares in front of every route: a bound on request bodies (413), and
writes authenticated by the dashboard's cookie only from Whistle's own pages (403).

Both answer before the application runs; neither reads a body it refuses.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Cookies that authenticate (the dashboard's sign-in keeps its credential in one of them);
# the language cookie does not.
NOT_CREDENTIALS = frozenset({"whistle_lang"})
COOKIE_PREFIX = "whistle_"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over ``limit`` bytes: at once when Content-Length says so, else as
    soon as the streamed (chunked) body passes the limit while the route reads it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit
        self.detail = f"the request body is larger than {limit // 1024} KiB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.limit:
            await _answer(send, 413, self.detail)
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    if not started:
                        await _answer(send, 413, self.detail)
                    # The route sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; what the route answers after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The route failed on the body it could not read whole: the 413 is the answer.


def is_loopback_host(host: str | None) -> bool:
    """A Host header (or address) naming this machine: localhost, 127.0.0.0/8 or ::1."""
    if not host:
        return False
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def came_to_loopback(scope: Scope) -> bool:
    """The request was sent to a loopback address by a client on this machine (a browser
    on the server itself): only then may the sign-in cookie go without ``Secure``."""
    if scope.get("scheme") == "https":
        return False
    client = scope.get("client")
    if client and not is_loopback_host(str(client[0])):
        return False
    return is_loopback_host(_header(scope, b"host"))


def cross_site(scope: Scope) -> bool:
    """A browser says (Origin, or else Referer) that the request comes from a page of
    another site than the one it was sent to."""
    host = _header(scope, b"host")
    origin = _header(scope, b"origin")
    if origin is not None:
        return urlsplit(origin).netloc != host
    referer = _header(scope, b"referer")
    if referer is not None:
        return urlsplit(referer).netloc != host
    return False


def _cookie_names(scope: Scope) -> set[str]:
    names: set[str] = set()
    for key, value in scope.get("headers", ()):
        if key.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, _, _ = part.strip().partition("=")
                if name:
                    names.add(name)
    return names


def cookie_authenticated(scope: Scope) -> bool:
    """No Authorization header, and a credential cookie of Whistle."""
    if _header(scope, b"authorization"):
        return False
    return any(n.startswith(COOKIE_PREFIX) and n not in NOT_CREDENTIALS
               for n in _cookie_names(scope))


class CookieOrigin:
    """403 for a write (not GET, HEAD or OPTIONS) that authenticates with the dashboard's
    cookie and that a browser says comes from another site. A bearer token is not sent
    by browsers on their own, so requests with an Authorization header are not checked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if (scope["type"] == "http" and scope.get("method") not in SAFE_METHODS
                and cookie_authenticated(scope) and cross_site(scope)):
            await _answer(send, 403, "a write with the dashboard's cookie must come from "
                                     "Whistle's own pages (Origin does not match)")
            return
        await self.app(scope, receive, send)
