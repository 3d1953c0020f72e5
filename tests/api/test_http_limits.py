"""Hardening of the HTTP side, limits: bodies over 1 MiB (413, before they are read whole),
telemetry paging and ranges, the statement timeout (503), database errors never echoed and
dates out of range (422). Real server, real PostgreSQL."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from tests.builders import World, ok

MIB = 1024 * 1024


def raw_request(url: str, head: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send a request head and some body bytes over a plain socket (never the rest), then
    read the answer: (status, body)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            more = sock.recv(65536)
            if not more:
                break
            data += more
    status_line, _, rest = data.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _head(world: World, path: str, extra: str) -> str:
    host = urlsplit(world.url).netloc
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {world.admin_token}\r\n{extra}\r\n")


def test_a_body_announced_over_1_mib_is_refused_before_it_is_sent(world: World):
    for path, kind in (("/api/v1/cases", "application/json"),
                       ("/signin", "application/x-www-form-urlencoded"),
                       ("/api/v1/orgs", "application/json")):
        status, body = raw_request(world.url, _head(
            world, path, f"Content-Type: {kind}\r\nContent-Length: {2 * MIB}\r\n"),
            [b"{" + b" " * 1000])
        assert status == 413, (path, body)
        assert b"larger than" in body
    # Exactly 1 MiB is still read (and refused for what it says, not for its size).
    big = b'{"name": "' + b"x" * (MIB - 12) + b'"}'
    assert len(big) == MIB
    r = world.admin.post("/orgs", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_a_chunked_body_is_refused_once_it_passes_1_mib(world: World):
    chunk = b"x" * (600 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for path, kind in (("/api/v1/orgs", "application/json"),
                       ("/signin", "application/x-www-form-urlencoded")):
        # Two chunks of 600 KiB and never the last (empty) one: the answer comes anyway.
        status, body = raw_request(world.url, _head(
            world, path, f"Content-Type: {kind}\r\nTransfer-Encoding: chunked\r\n"),
            [framed, framed])
        assert status == 413, (path, body)
    # A small chunked body goes through as before.
    r = world.admin.post("/orgs", content=iter([b'{"name": "Chunked", ', b'"kind": "rescue", ',
                                                b'"district": "D9"}']),
                         headers={"Content-Type": "application/json"})
    assert ok(r, 201)["name"] == "Chunked"
