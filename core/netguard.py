"""Where a webhook may point: https, and only to public addresses.

A webhook URL is given by an admin but requested by the service from inside its network,
so it must not reach the service's own machine, the private network behind it or a cloud
metadata address. The URL is checked when the webhook is created and again before every
delivery (DNS can change), and the delivery connects to an address that was checked.
``WHISTLE_WEBHOOK_ALLOW_PRIVATE=true`` lifts both rules (tests, a receiver on the LAN).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]
DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedURL(ValueError):
    """A URL a webhook may not use; the message says why (safe to show to the admin)."""


class Unresolvable(RefusedURL):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the addresses the delivery may connect to."""

    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def refusal(ip: IPAddress) -> str | None:
    """Why an address is not public, or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return refusal(ip.ipv4_mapped)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "not global"  # e.g. 100.64.0.0/10, shared address space
    return None


def host_of(url: str) -> str:
    """The host of a URL, for logs (never the path or query, which may hold a secret)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def check(url: str, *, allow_private: bool,
          resolve: Resolver = socket.getaddrinfo) -> Target:
    """The URL's target, if a webhook may use it; RefusedURL (Unresolvable) if not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise RefusedURL("must be an https:// URL")
    if scheme != "https" and not allow_private:
        raise RefusedURL("must be an https:// URL (http:// only with "
                         "WHISTLE_WEBHOOK_ALLOW_PRIVATE=true)")
    host = parts.hostname
    if not host:
        raise RefusedURL("has no host")
    port = port or DEFAULT_PORTS[scheme]
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"the host {host} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        why = refusal(ip)
        if why is not None and not allow_private:
            raise RefusedURL(f"the host {host} resolves to a {why} address ({ip}); "
                             "webhooks go to public addresses only")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise Unresolvable(f"the host {host} does not resolve")
    return Target(scheme=scheme, host=host, port=port, addresses=tuple(addresses))
