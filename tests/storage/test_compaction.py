"""Compaction keeps GET /elevators/{id}/telemetry byte for byte: raw and bucketed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from storage import compaction, partitions, rollup
from storage.partitions import BLOCKS, RAW
from tests.builders import World
from tests.storage.samples import DAY, write


def history(world: World, start: str, end: str) -> list[bytes]:
    client = world.as_("prop_a")
    pages = []
    for params in ({}, {"bucket": "1m"}, {"bucket": "10s"}, {"bucket": "1h"},
                   {"offset": 5000}, {"limit": 7}):
        r = client.get("/elevators/E1/telemetry", params={"start": start, "end": end, **params})
        assert r.status_code == 200, r.text
        pages.append(r.content)
    return pages


def test_compaction_keeps_the_api_output_identical(world: World,
                                                   db: psycopg.Connection) -> None:
    pk = db.execute("SELECT pk FROM elevators WHERE id = 'E1'").fetchone()[0]
    start = DAY + timedelta(hours=10, minutes=30)
    partitions.ensure(db, RAW, start)
    assert write(db, pk, start, 7200, per_batch=500) == 7200
    assert compaction.compact(db, now=DAY + timedelta(days=3)) == 0, \
        "nothing is compacted before the rollup has it"
    assert rollup.advance(db, now=datetime.now(UTC)) == 120  # the minutes 10:30 to 12:29
    span = ((start - timedelta(minutes=10)).isoformat(),
            (start + timedelta(hours=2, minutes=10)).isoformat())
    before = history(world, *span)
    assert before[0].count(b'"seq"') == 7200 and b"E42 overspeed" in before[0]

    assert compaction.compact(db, now=DAY + timedelta(days=3)) == 7200
    assert RAW.period(start)[2] not in {n for n, _, _ in partitions.partitions(db, RAW)}
    assert db.execute("SELECT count(*) FROM telemetry WHERE elevator_pk = %s",
                      (pk,)).fetchone()[0] == 0, "the raw partition went"
    blocks = db.execute(f"SELECT hour, samples FROM {BLOCKS.period(start)[2]} "
                        "WHERE elevator_pk = %s ORDER BY hour", (pk,)).fetchall()
    assert [n for _, n in blocks] == [1800, 3600, 1800], "one block per elevator and hour"
    assert history(world, *span) == before

    # A late sample for the compacted day (its partition is gone) lands in the default
    # partition and joins its hour's block at the next compaction; a redelivered sample
    # already compacted is stored once (the merge keeps one of each (ts, seq)).
    assert write(db, pk, start, 1, first=7200) == 1
    write(db, pk, start, 3, first=7199)
    assert compaction.compact(db, now=DAY + timedelta(days=3)) == 3
    after = history(world, *span)
    assert after[0].count(b'"seq"') == 7202
    assert after[0].count(b'"seq":7199') == 1
