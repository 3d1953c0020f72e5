"""What the rules service keeps between runs: the engine's per-elevator state, and the
registry view the engine works from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

Row = dict[str, Any]


def load(conn: psycopg.Connection, pks: list[int] | None = None) -> dict[int, bytes]:
    """Every saved engine state blob (of ``pks`` when given), by elevator pk."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return {int(r[0]): bytes(r[1]) for r in cur.execute(
            "SELECT elevator_pk, blob FROM rule_state "
            "WHERE %(pks)s::int[] IS NULL OR elevator_pk = ANY(%(pks)s)",
            {"pks": pks}).fetchall()}


def save(conn: psycopg.Connection, *, blobs: dict[int, bytes], now: datetime) -> int:
    """Upsert state blobs (of elevators that still exist); how many were written."""
    if not blobs:
        return 0
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.executemany(
            "INSERT INTO rule_state (elevator_pk, blob, updated_at) "
            "SELECT e.pk, %s, %s FROM elevators e WHERE e.pk = %s "
            "ON CONFLICT (elevator_pk) DO UPDATE SET blob = EXCLUDED.blob, "
            "updated_at = EXCLUDED.updated_at",
            [(blob, now, pk) for pk, blob in blobs.items()])
    return len(blobs)


def elevators(conn: psycopg.Connection, pks: list[int] | None = None, *,
              partitions: tuple[int, list[int]] | None = None) -> list[Row]:
    """Registered elevators as the detection engine needs them, in pk order (only those
    of ``pks`` when given: one registry change costs one row, not the fleet; only those
    whose pk modulo ``partitions[0]`` is in ``partitions[1]`` when given)."""
    modulo, parts = partitions if partitions is not None else (1, None)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT pk, id, model, rated_speed_mps, rated_load_kg, travel_m, landings_m, "
            "sealed_at IS NOT NULL AS sealed, decommissioned_at IS NOT NULL AS decommissioned "
            "FROM elevators "
            "WHERE (%(pks)s::int[] IS NULL OR pk = ANY(%(pks)s)) "
            "AND (%(parts)s::int[] IS NULL OR pk %% %(modulo)s = ANY(%(parts)s)) ORDER BY pk",
            {"pks": pks, "parts": parts, "modulo": modulo}).fetchall()
