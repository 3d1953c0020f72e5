"""Telemetry's daily partitions on plain PostgreSQL: made ahead, and a sample for a day
without a partition is never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from storage import partitions, telemetry
from storage.partitions import MINUTES, RAW
from tests.builders import register_fleet
from tests.storage.samples import write


def names(db: psycopg.Connection, family: partitions.Family) -> set[str]:
    return {name for name, _, _ in partitions.partitions(db, family)}


def test_the_next_days_have_their_partitions_before_any_sample(db: psycopg.Connection) -> None:
    assert partitions.active(db), "plain PostgreSQL: Whistle's own partitions"
    today = datetime.now(UTC)
    have = names(db, RAW)
    for d in range(partitions.AHEAD_DAYS + 1):
        assert RAW.period(today + timedelta(days=d))[2] in have, "made at start (migrate)"
    later = datetime(2031, 1, 30, 12, tzinfo=UTC)
    created = partitions.ensure_ahead(db, later)
    assert created == ["telemetry_p20310130", "telemetry_p20310131", "telemetry_p20310201",
                       "telemetry_p20310202", "telemetry_minutes_p203101",
                       "telemetry_minutes_p203102"]
    assert partitions.ensure_ahead(db, later) == [], "made once"
    bounds = {n: (lo, hi) for n, lo, hi in partitions.partitions(db, RAW)}
    assert bounds["telemetry_p20310201"] == (datetime(2031, 2, 1, tzinfo=UTC),
                                             datetime(2031, 2, 2, tzinfo=UTC))
    assert "telemetry_minutes_p203102" in names(db, MINUTES)
    # The catalogue agrees with the names: a sample of that day lands in that partition.
    pks = register_fleet(db, ["P1"])
    write(db, pks["P1"], datetime(2031, 2, 1, 10, tzinfo=UTC), 3)
    assert db.execute("SELECT count(*) FROM telemetry_p20310201").fetchone()[0] == 3


def test_a_sample_for_a_day_without_partition_is_kept_and_moved_in_later(
        db: psycopg.Connection) -> None:
    pks = register_fleet(db, ["P2"])
    day = datetime(2024, 6, 1, 8, tzinfo=UTC)
    assert RAW.period(day)[2] not in names(db, RAW)
    assert write(db, pks["P2"], day, 5) == 5
    assert db.execute("SELECT count(*) FROM telemetry_default").fetchone()[0] == 5
    got = telemetry.raw(db, elevator_pk=pks["P2"], start=day, end=day + timedelta(hours=1),
                        limit=100)
    assert [r["seq"] for r in got] == [0, 1, 2, 3, 4]
    assert partitions.ensure(db, RAW, day) is True
    assert db.execute("SELECT count(*) FROM telemetry_default").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM telemetry_p20240601").fetchone()[0] == 5
    assert telemetry.raw(db, elevator_pk=pks["P2"], start=day, end=day + timedelta(hours=1),
                         limit=100) == got
    # The unique index still deduplicates across the move.
    assert write(db, pks["P2"], day, 5) == 0
