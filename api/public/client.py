"""The address a request comes from (the rate limits of the residents' reports count per
address): the direct peer, or, only when that peer is one of WHISTLE_TRUSTED_PROXIES, the
right-most hop of X-Forwarded-For that is not itself a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in networks)


def forwarded_for(peer: str, header_values: Sequence[str],
                  networks: Sequence[Network]) -> str:
    """The client address of a request from ``peer`` with these X-Forwarded-For values."""
    if not _trusted(peer, networks):
        return peer
    hops = [h.strip() for value in header_values for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def client_address(request: Request, networks: Sequence[Network]) -> str:
    """The client address of a request (see the module's docstring)."""
    peer = request.client.host if request.client else ""
    return forwarded_for(peer, request.headers.getlist("x-forwarded-for"), networks)
