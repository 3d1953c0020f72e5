"""Retention on real partitions: whole partitions go once out of retention, the samples
around an alert stay with it, the rollup has its own retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from storage import housekeeping, partitions, telemetry
from storage.partitions import BLOCKS, MINUTES, RAW
from tests.builders import raise_alert, register_fleet
from tests.storage.samples import write

DAY = datetime(2025, 1, 5, tzinfo=UTC)


def names(db: psycopg.Connection) -> set[str]:
    return {n for f in (RAW, BLOCKS, MINUTES) for n, _, _ in partitions.partitions(db, f)}


def test_old_partitions_are_dropped_and_samples_around_alerts_stay(
        db: psycopg.Connection) -> None:
    pks = register_fleet(db, ["K1", "K2"])
    start = DAY + timedelta(hours=10)
    partitions.ensure(db, RAW, start)
    partitions.ensure(db, MINUTES, start)
    for pk in pks.values():
        assert write(db, pk, start, 3600, per_batch=600) == 3600
    alert_at = start + timedelta(minutes=30)
    raise_alert(db, "K1", "power_loss", at=alert_at)
    db.execute("UPDATE alerts SET resolved_at = opened_at + interval '2 minutes'")
    window = (alert_at - timedelta(minutes=5), alert_at + timedelta(minutes=7))
    around = telemetry.raw(db, elevator_pk=pks["K1"], start=window[0], end=window[1],
                           limit=10_000)
    assert len(around) == 720

    # A year and a month later, with a rollup kept for 30 days.
    later = DAY + timedelta(days=400)
    swept = housekeeping.sweep(db, now=later, telemetry_days=365, log_days=90, rollup_days=30)
    assert swept is not None
    assert swept.rows["telemetry_compacted"] == 7200, "compacted first (older than a day)"
    assert swept.rows["telemetry_partitions"] >= 1, "then the day's blocks partition dropped"
    assert swept.rows["telemetry"] == 7200 - 720
    assert swept.rows["telemetry_minutes"] == 120, "the rollup partition of January 2025"
    gone = {RAW.period(start)[2], BLOCKS.period(start)[2], MINUTES.period(start)[2]}
    assert not gone & names(db)
    assert telemetry.raw(db, elevator_pk=pks["K1"], start=start,
                         end=start + timedelta(hours=1), limit=10_000) == around
    assert telemetry.raw(db, elevator_pk=pks["K2"], start=start,
                         end=start + timedelta(hours=1), limit=10_000) == []
    assert telemetry.count(db) == 720

    again = housekeeping.sweep(db, now=later, telemetry_days=365, log_days=90, rollup_days=30)
    assert again is not None and again.rows["telemetry"] == 0, "kept while the alert exists"
    db.execute("DELETE FROM alerts")  # alerts leave only with their elevator
    last = housekeeping.sweep(db, now=later, telemetry_days=365, log_days=90, rollup_days=30)
    assert last is not None and last.rows["telemetry"] == 720
    assert telemetry.count(db) == 0


def test_a_recent_partition_is_left_alone(db: psycopg.Connection) -> None:
    pks = register_fleet(db, ["K3"])
    start = DAY + timedelta(hours=1)
    partitions.ensure(db, RAW, start)
    write(db, pks["K3"], start, 60)
    swept = housekeeping.sweep(db, now=DAY + timedelta(hours=20), telemetry_days=365,
                               log_days=90)
    assert swept is not None and swept.rows["telemetry_compacted"] == 0
    assert RAW.period(start)[2] in names(db)
    assert db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 60
