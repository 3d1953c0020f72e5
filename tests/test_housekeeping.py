"""Retention (CONTRACT section 10) against a real PostgreSQL: what is old goes, in
batches; samples around an alert stay with it; one process sweeps at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from core.settings import Settings
from rules.housekeeping import Housekeeper
from storage import housekeeping
from tests.builders import raise_alert, register_fleet
from tests.helpers import wait_until

NOW = datetime.now(UTC)


def seed(db: psycopg.Connection) -> dict[str, int]:
    """Old and recent rows in every table that has a retention; the alert's pk."""
    pks = register_fleet(db, ["H1", "H2"])
    # half past an hour: the samples kept around the alert fall in one hourly block
    old = (NOW - timedelta(days=400)).replace(minute=30, second=0, microsecond=0)
    alert = raise_alert(db, "H1", "power_loss", at=old)
    db.execute("UPDATE alerts SET resolved_at = opened_at + interval '2 minutes'")
    samples = [
        ("H1", old - timedelta(minutes=30)),  # old, far from the alert: goes
        ("H1", old - timedelta(minutes=4)),   # around the alert: stays
        ("H1", old + timedelta(minutes=6)),   # 4 min after it resolved: stays
        ("H2", old),                          # the alert is another elevator's: goes
        ("H1", NOW - timedelta(hours=6)),     # recent, under a day old at any hour: stays
    ]
    for i, (eid, ts) in enumerate(samples):
        db.execute("INSERT INTO telemetry (elevator_pk, ts, seq, floor, speed_mps, door) "
                   "VALUES (%s, %s, %s, 1, 0, 0)", (pks[eid], ts, i))
    for i, days in enumerate((100, 100, 100, 10)):
        at = NOW - timedelta(days=days, seconds=i)
        db.execute("INSERT INTO ingest_rejects (received_at, topic, reason, detail, payload, "
                   "payload_size) VALUES (%s, 'lift/X/telemetry', 'not_json', '-', '', 0)",
                   (at,))
        db.execute("INSERT INTO connection_events (elevator_pk, state, ts, received_at) "
                   "VALUES (%s, 'online', %s, %s)", (pks["H1"], at, at))
    org = db.execute("INSERT INTO orgs (name, kind) VALUES ('hooks', 'property') "
                     "RETURNING id").fetchone()[0]
    hook = db.execute("INSERT INTO webhooks (org_id, url, secret) VALUES "
                      "(%s, 'https://example.org/h', 's') RETURNING id", (org,)).fetchone()[0]
    for status, days in (("delivered", 100), ("failed", 100), ("pending", 100),
                         ("delivered", 10)):
        db.execute("INSERT INTO webhook_deliveries (webhook_id, message_id, event, body, "
                   "status, due_at) VALUES (%s, gen_random_uuid(), 'alert', '', %s, %s)",
                   (hook, status, NOW - timedelta(days=days)))
    return {"alert": alert}


def count(db: psycopg.Connection, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_old_rows_go_in_batches_and_samples_around_alerts_stay(
        db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db)
    monkeypatch.setattr(housekeeping, "BATCH", 2)  # several batches per table
    batches: list[tuple[str, int]] = []
    swept = housekeeping.sweep(db, now=NOW, telemetry_days=365, log_days=90,
                               progress=lambda table, n: batches.append((table, n)))
    assert swept is not None
    assert {k: swept.rows[k] for k in ("telemetry", "ingest_rejects", "connection_events",
                                       "webhook_deliveries", "telemetry_compacted")} == {
        "telemetry": 2, "ingest_rejects": 3, "connection_events": 3, "webhook_deliveries": 2,
        "telemetry_compacted": 4}
    assert [n for table, n in batches if table == "ingest_rejects"] == [2, 1]
    kept = [r[0] for r in db.execute(
        "SELECT seq FROM telemetry UNION ALL SELECT unnest(seq) FROM telemetry_blocks "
        "UNION ALL SELECT unnest(seq) FROM telemetry_kept ORDER BY 1")]
    assert kept == [1, 2, 4]
    assert count(db, "telemetry_kept") == 1, "the samples around the alert, kept as a block"
    assert count(db, "ingest_rejects") == 1 and count(db, "connection_events") == 1
    assert sorted(r[0] for r in db.execute("SELECT status FROM webhook_deliveries")) == [
        "delivered", "pending"], "a delivery still pending is never swept"
    again = housekeeping.sweep(db, now=NOW, telemetry_days=365, log_days=90)
    assert again is not None and again.total == 0


def test_one_process_sweeps_at_a_time(db: psycopg.Connection, pg_url: str) -> None:
    seed(db)
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (housekeeping.LOCK_KEY,))
        assert housekeeping.sweep(db, now=NOW, telemetry_days=365, log_days=90) is None
        assert count(db, "ingest_rejects") == 4, "nothing done while another sweeps"
        # released explicitly: a closed session's locks go when the server notices
        other.execute("SELECT pg_advisory_unlock(%s)", (housekeeping.LOCK_KEY,))
    assert housekeeping.sweep(db, now=NOW, telemetry_days=365, log_days=90) is not None


def test_the_running_service_sweeps_by_itself(db: psycopg.Connection,
                                              settings: Settings) -> None:
    seed(db)
    keeper = Housekeeper(settings.model_copy(update={"housekeeping_every_s": 3600}))
    keeper.start()
    try:
        wait_until(keeper.swept.is_set, 15, message="the first sweep at start")
    finally:
        keeper.stop()
    assert keeper.last is not None and keeper.last.rows["ingest_rejects"] == 3
    assert count(db, "ingest_rejects") == 1


def test_whistle_housekeeping_applies_retention_and_says_what_it_did(
        db: psycopg.Connection, pg_url: str) -> None:
    seed(db)
    done = subprocess.run([sys.executable, "-m", "whistle", "housekeeping"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WHISTLE_DATABASE_URL": pg_url,
                               "WHISTLE_LOG_RETENTION_DAYS": "30"})
    assert done.returncode == 0, done.stderr
    assert "ingest_rejects: 3 rows deleted" in done.stdout
    assert "telemetry: 2 samples deleted" in done.stdout
    assert "telemetry_compacted: 4 samples compacted" in done.stdout
    assert count(db, "connection_events") == 1
