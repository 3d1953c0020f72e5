"""Telemetry written the way the ingester writes it (storage.intake), for storage tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import psycopg

from core.codec import Sample, Telemetry
from storage.copybuf import Batch, encode
from storage.intake import Written, write_telemetry

DAY = datetime(2025, 3, 10, tzinfo=UTC)  # a past day no other test writes to


def sample(i: int, ts: datetime) -> Sample:
    """A varied sample: every nullable field is sometimes absent, some carry a fault text."""
    moving = i % 7 < 3
    return Sample(
        ts=int(ts.timestamp() * 1e6) // 1000, floor=i % 12, seq=i,
        speed_mps=round(1.5 * math.sin(i / 5), 3) if moving else 0.0,
        door=("open" if i % 11 == 0 else "closed"),
        pos_m=None if i % 13 == 0 else round(3.0 * (i % 12) + 0.01 * (i % 3), 3),
        door_lock=None if i % 17 == 0 else not moving,
        safety_chain=True, level_mm=None if moving else float(i % 5 - 2),
        load_kg=None if i % 19 == 0 else float(75 * (i % 6)),
        occupied=i % 6 > 0, alarm=i % 97 == 0, motor_temp_c=30.0 + (i % 50) / 10,
        power=None if i % 23 == 0 else "mains", mode="normal",
        fault="E42 overspeed" if i % 101 == 0 else None)


def write(db: psycopg.Connection, pk: int, start: datetime, n: int, *, every_s: float = 1.0,
          per_batch: int = 50, first: int = 0) -> int:
    """n samples of one elevator from start, in batches as the ingester writes them."""
    stored = 0
    for lo in range(first, first + n, per_batch):
        batch = Batch()
        idx = range(lo, min(lo + per_batch, first + n))
        start_us = round(start.timestamp()) * 1_000_000
        ts_us = [start_us + round(i * every_s * 1e6) + 123 for i in idx]  # odd microseconds
        samples = [sample(i, start + timedelta(seconds=i * every_s)) for i in idx]
        batch.add(pk, Telemetry(samples, ts_us))
        written: Written = write_telemetry(db, encode(batch))
        stored += written.inserted
    return stored
