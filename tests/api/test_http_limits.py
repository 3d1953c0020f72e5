"""Hardening of the HTTP side, limits: bodies over 1 MiB (413, before they are read whole),
telemetry paging and ranges, the statement timeout (503), database errors never echoed and
dates out of range (422). Real server, real PostgreSQL."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import psycopg

from core.settings import Settings
from tests.builders import World, client, ok, seed_fleet, telemetry
from tests.helpers import ApiServer

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


def _field(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    return [e["field"] for e in r.json()["errors"]]


def test_telemetry_pages_with_offset_and_bounds_its_pages_and_ranges(
        world: World, db: psycopg.Connection):
    n = telemetry(db, "E1", hours=2, every_s=10)
    now = datetime.now(UTC)
    span = {"start": (now - timedelta(hours=3)).isoformat(),
            "end": (now + timedelta(minutes=1)).isoformat()}
    pages = [ok(world.admin.get("/elevators/E1/telemetry",
                                params=span | {"limit": 300, "offset": o}))
             for o in (0, 300, 600, 900)]
    assert [len(p) for p in pages] == [300, 300, n - 600, 0]
    stamps = [s["ts"] for p in pages for s in p]
    assert stamps == sorted(stamps) and len(set(stamps)) == n
    # Buckets page the same way.
    hourly = span | {"bucket": "10m"}
    every = ok(world.admin.get("/elevators/E1/telemetry", params=hourly))
    first = ok(world.admin.get("/elevators/E1/telemetry", params=hourly | {"limit": 5}))
    rest = ok(world.admin.get("/elevators/E1/telemetry",
                              params=hourly | {"offset": 5}))
    assert first + rest == every and len(first) == 5
    # At most 10,000 a page; 31 days raw, 366 days bucketed.
    assert len(ok(world.admin.get("/elevators/E1/telemetry", params={"limit": 10_000}))) > 300
    for limit in (10_001, 100_000, 0):
        assert _field(world.admin.get("/elevators/E1/telemetry",
                                      params={"limit": limit})) == ["limit"]
    assert _field(world.admin.get("/elevators/E1/telemetry",
                                  params={"offset": -1})) == ["offset"]
    day = timedelta(days=1)
    assert ok(world.admin.get("/elevators/E1/telemetry", params={
        "start": (now - 31 * day).isoformat(), "end": now.isoformat()})) is not None
    r = world.admin.get("/elevators/E1/telemetry", params={
        "start": (now - 32 * day).isoformat(), "end": now.isoformat()})
    assert _field(r) == ["start"] and "31 days" in r.json()["detail"]
    assert 1 <= len(ok(world.admin.get("/elevators/E1/telemetry", params={
        "start": (now - 366 * day).isoformat(), "end": now.isoformat(), "bucket": "1d"}))) <= 2
    r = world.admin.get("/elevators/E1/telemetry", params={
        "start": (now - 367 * day).isoformat(), "bucket": "1d"})
    assert _field(r) == ["start"] and "366 days" in r.json()["detail"]


def test_a_query_past_the_statement_timeout_answers_503_and_frees_its_connection(
        settings: Settings, db: psycopg.Connection, pg_url: str):
    seed_fleet(db)
    quick = settings.model_copy(update={"api_statement_timeout_s": 0.3})
    with ApiServer(quick) as url, client(url, settings.admin_token) as admin:
        assert len(ok(admin.get("/elevators"))) == 3
        # Another session holds the registry locked: the API's query waits, and is cancelled.
        with psycopg.connect(pg_url) as locker:
            locker.execute("LOCK TABLE elevators IN ACCESS EXCLUSIVE MODE")
            # the lock is held until after the answer: only the timeout can end the wait
            r = admin.get("/elevators")
            assert r.status_code == 503, r.text
            assert r.json()["detail"].startswith("the query took too long")
            assert r.headers["Retry-After"] == "5"
            locker.rollback()
        # More requests than the pool has connections: none was left stuck.
        for _ in range(20):
            assert len(ok(admin.get("/elevators"))) == 3


def test_database_errors_are_not_echoed_and_dates_out_of_range_are_422(world: World):
    r = world.admin.get("/alerts", params={"site_id": 10**12})
    assert r.status_code == 422
    assert r.json() == {"detail": "a value of this request is out of the range the "
                                  "service accepts"}
    assert "integer" not in r.text
    for params, field in (({"start": "0001-01-01T00:00:00+05:00"}, "start"),
                          ({"end": "0001-01-01T00:30:00Z"}, "end"),
                          ({"end": "0001-01-01T00:30:00Z", "bucket": "1m"}, "end"),
                          ({"start": "9999-12-31T23:59:59-05:00"}, "start"),
                          ({"end": "10000-01-01T00:00:00Z"}, "end")):
        assert _field(world.admin.get("/elevators/E1/telemetry", params=params)) == [field]
        assert _field(world.admin.get("/reports/response", params=params)) == [field]
    body = {"id": "X1", "site_id": world.sites["S1"], "name": "x", "rated_speed_mps": 1,
            "rated_load_kg": 600, "min_floor": 0, "max_floor": 3, "travel_m": 9}
    for day in ("99999-01-01", "9999-12-31", "0001-01-01"):
        assert _field(world.admin.post("/elevators", json=body | {
            "next_inspection_due": day})) == ["next_inspection_due"]
        assert _field(world.as_("sup_d1").post("/elevators/E1/inspections", json={
            "result": "pass", "hazards": ["x"], "rectify_by": day})) == ["rectify_by"]
    for at in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        assert _field(world.admin.post("/elevators/E1/handover", json={
            "property_org_id": world.orgs["prop_b"], "effective_at": at})) == ["effective_at"]
    assert ok(world.admin.post("/elevators", json=body | {
        "next_inspection_due": "9998-12-31"}), 201)["next_inspection_due"] == "9998-12-31"
