"""Migration 0013: the per-partition rules feed becomes one log, carrying unread rows over."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from core.partitions import PARTITIONS
from core.stream import Committed
from storage import feed, leases
from storage.db import migrate
from tests.helpers import free_name


@pytest.fixture()
def url_at_0012(pg_server: str) -> Iterator[str]:
    name = free_name("whistle_feed_migration")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = pg_server.rpartition("/")
    url = f"{base}/{name}"
    try:
        migrate(url, "0012")
        yield url
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _body(eid: str, pk: int, state: str, ts_us: int) -> bytes:
    return feed.split(Committed([], [(eid, pk, state, ts_us)]))[pk % PARTITIONS]


def test_unread_rows_of_the_old_feed_are_read_after_the_upgrade(url_at_0012: str) -> None:
    with psycopg.connect(url_at_0012, autocommit=True) as conn:
        leases.ensure(conn, PARTITIONS)
        conn.execute("UPDATE rules_partitions SET cursor = 1 WHERE partition = 3")
        rows = [(3, 1, _body("A", 3, "online", 1), "2026-12-01 10:00Z"),  # read already
                (3, 2, _body("A", 3, "offline", 2), "2026-12-01 10:02Z"),
                (5, 1, _body("B", 5, "online", 3), "2026-12-01 10:01Z")]
        for r in rows:
            conn.execute("INSERT INTO rules_feed (partition, seq, body, created_at) "
                         "VALUES (%s, %s, %s, %s)", r)
    migrate(url_at_0012)
    with psycopg.connect(url_at_0012, autocommit=True) as conn:
        got, last = feed.read(conn, dict.fromkeys(range(PARTITIONS), 0), limit=100)
        states = feed.decode(body for _p, _s, body in got).states
        # the two unread rows, in the order they were written, numbered from 1
        assert [(eid, state) for eid, _pk, state, _ts in states] == [("B", "online"),
                                                                     ("A", "offline")]
        assert last == 2
        assert conn.execute("SELECT head FROM rules_feed_head").fetchone() == (2,)
        assert conn.execute("SELECT DISTINCT cursor FROM rules_partitions").fetchall() == [(0,)]
        # and the next batch goes after them
        with conn.transaction():
            feed.append(conn, Committed([], [("B", 5, "offline", 4)]))
        assert feed.read(conn, {5: 2}, limit=100)[0][0][:2] == (5, 3)
