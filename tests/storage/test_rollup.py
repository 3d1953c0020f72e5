"""The per-minute rollup is kept by the ingest statement itself and equals what the raw
samples give; the bucketed history reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from storage import partitions, rollup, telemetry
from storage.partitions import RAW
from tests.builders import register_fleet
from tests.storage.samples import DAY, write

FIELDS = ("samples", "speed_avg", "speed_max", "pos_avg", "pos_min", "pos_max", "load_avg",
          "load_max", "temp_avg", "temp_max", "vib_avg", "vib_max", "level_avg", "level_max")


def from_raw(db: psycopg.Connection, pk: int, start: Any, end: Any, width: str
             ) -> list[dict[str, Any]]:
    """The aggregates computed straight from the raw rows (the reference)."""
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            f"SELECT date_bin(%s::interval, ts, 'epoch') AS ts, {telemetry.AGGREGATES} "
            "FROM telemetry WHERE elevator_pk = %s AND ts >= %s AND ts < %s "
            "GROUP BY 1 ORDER BY 1", (width, pk, start, end)).fetchall()


def same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [r["ts"] for r in got] == [r["ts"] for r in want]
    for g, w in zip(got, want, strict=True):
        for f in FIELDS:
            assert g[f] == (None if w[f] is None else pytest.approx(w[f], rel=1e-9)), f


def test_rollup_equals_aggregates_of_the_raw_samples(db: psycopg.Connection) -> None:
    pks = register_fleet(db, ["R1", "R2"])
    start = DAY + timedelta(hours=5)
    partitions.ensure(db, RAW, start)
    assert write(db, pks["R1"], start, 600, per_batch=37) == 600
    assert write(db, pks["R2"], start, 200, every_s=2.5) == 200
    end = start + timedelta(hours=1)
    assert telemetry.buckets(db, elevator_pk=pks["R1"], start=start, end=end, bucket_s=60
                             ) == telemetry.buckets(db, elevator_pk=pks["R1"], start=start,
                                                    end=end, bucket_s=60)
    assert db.execute("SELECT count(*) FROM telemetry_minutes").fetchone()[0] == 0
    same(telemetry.buckets(db, elevator_pk=pks["R1"], start=start, end=end, bucket_s=60),
         from_raw(db, pks["R1"], start, end, "60 seconds")), "before the rollup: raw rows"
    assert rollup.advance(db, now=datetime.now(UTC)) == 10 + 9  # R1's and R2's minutes
    assert rollup.advance(db, now=datetime.now(UTC)) == 0, "each minute once"
    # Late samples (for minutes already rolled up) are added by the ingest statement;
    # redelivered ones (the dedup path) and a half-new batch are not counted twice.
    assert write(db, pks["R1"], start, 100, per_batch=100) == 0
    assert write(db, pks["R1"], start, 100, per_batch=100, first=550) == 50
    minutes = db.execute("SELECT sum(samples) FROM telemetry_minutes WHERE elevator_pk = %s",
                         (pks["R1"],)).fetchone()[0]
    assert minutes == 650
    for pk in pks.values():
        for width, s in (("60 seconds", 60), ("300 seconds", 300), ("3600 seconds", 3600)):
            same(telemetry.buckets(db, elevator_pk=pk, start=start, end=end, bucket_s=s),
                 from_raw(db, pk, start, end, width))
        # An unaligned range: whole minutes from the rollup, the edges from the samples.
        a, b = start + timedelta(seconds=17), start + timedelta(minutes=7, seconds=42)
        same(telemetry.buckets(db, elevator_pk=pk, start=a, end=b, bucket_s=60),
             from_raw(db, pk, a, b, "60 seconds"))
        same(telemetry.buckets(db, elevator_pk=pk, start=a, end=b, bucket_s=30),
             from_raw(db, pk, a, b, "30 seconds"))


def test_bucketed_history_reads_the_rollup(db: psycopg.Connection) -> None:
    pks = register_fleet(db, ["R3"])
    start = DAY + timedelta(hours=9)
    write(db, pks["R3"], start, 120)
    rollup.advance(db, now=datetime.now(UTC))
    # Change the rollup behind the raw rows' back: whole-minute buckets must show it.
    db.execute("UPDATE telemetry_minutes SET samples = samples + 1000 WHERE elevator_pk = %s",
               (pks["R3"],))
    got = telemetry.buckets(db, elevator_pk=pks["R3"], start=start,
                            end=start + timedelta(minutes=2), bucket_s=60)
    assert [r["samples"] for r in got] == [1060, 1060]
    got = telemetry.buckets(db, elevator_pk=pks["R3"], start=start,
                            end=start + timedelta(minutes=2), bucket_s=20)
    assert [r["samples"] for r in got] == [20] * 6, "sub-minute buckets: the samples"
