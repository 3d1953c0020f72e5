"""Inspections (and the seals inspectors put on elevators) and maintenance records."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from storage import outbox

Row = dict[str, Any]

INSPECTION_COLUMNS = ("id, inspected_at, result, notes, seal, next_due, org_id, "
                      "recorded_by")
MAINTENANCE_COLUMNS = "id, performed_at, notes, org_id, recorded_by"


def record_inspection(conn: psycopg.Connection, *, elevator_pk: int, result: str,
                      notes: str | None, seal: bool | None, next_due: date | None,
                      org_id: int | None, recorded_by: str) -> Row:
    """Record an inspection; seal/unseal the elevator and move its next due date if given."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO inspections (elevator_pk, result, notes, seal, next_due, org_id, "
            f"recorded_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {INSPECTION_COLUMNS}",
            (elevator_pk, result, notes, seal, next_due, org_id, recorded_by)).fetchone()
        if seal is True:
            # Sealing a sealed elevator keeps the original seal (time and inspector).
            cur.execute("UPDATE elevators SET sealed_at = coalesce(sealed_at, now()), "
                        "sealed_by = coalesce(sealed_by, %s) WHERE pk = %s",
                        (recorded_by, elevator_pk))
        elif seal is False:
            cur.execute("UPDATE elevators SET sealed_at = NULL, sealed_by = NULL "
                        "WHERE pk = %s", (elevator_pk,))
        if next_due is not None:
            cur.execute("UPDATE elevators SET next_inspection_due = %s WHERE pk = %s",
                        (next_due, elevator_pk))
        outbox.notify(conn, outbox.REGISTRY_CHANNEL,
                      {"elevator_pk": elevator_pk, "change": "inspection"})
    assert row is not None
    return row


def list_inspections(conn: psycopg.Connection, *, elevator_pk: int, limit: int, offset: int
                     ) -> list[Row]:
    """Inspections of one elevator, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {INSPECTION_COLUMNS} FROM inspections WHERE elevator_pk = %s "
            "ORDER BY inspected_at DESC, id DESC LIMIT %s OFFSET %s",
            (elevator_pk, limit, offset)).fetchall()


def record_maintenance(conn: psycopg.Connection, *, elevator_pk: int, notes: str | None,
                       org_id: int | None, recorded_by: str) -> Row:
    """Record maintenance performed on an elevator now."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO maintenance_records (elevator_pk, notes, org_id, recorded_by) "
            f"VALUES (%s, %s, %s, %s) RETURNING {MAINTENANCE_COLUMNS}",
            (elevator_pk, notes, org_id, recorded_by)).fetchone()
        outbox.notify(conn, outbox.REGISTRY_CHANNEL,
                      {"elevator_pk": elevator_pk, "change": "maintenance"})
    assert row is not None
    return row


def list_maintenance(conn: psycopg.Connection, *, elevator_pk: int, limit: int, offset: int
                     ) -> list[Row]:
    """Maintenance records of one elevator, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {MAINTENANCE_COLUMNS} FROM maintenance_records WHERE elevator_pk = %s "
            "ORDER BY performed_at DESC, id DESC LIMIT %s OFFSET %s",
            (elevator_pk, limit, offset)).fetchall()


def calendar(conn: psycopg.Connection) -> list[Row]:
    """What the calendar rules need of every elevator, with its open calendar alerts."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT e.pk, e.id, e.next_inspection_due, e.registered_at, "
            "  (SELECT max(m.performed_at) FROM maintenance_records m "
            "   WHERE m.elevator_pk = e.pk) AS last_maintenance, "
            "  coalesce((SELECT array_agg(a.kind) FROM alerts a WHERE a.elevator_pk = e.pk "
            "   AND a.state <> 'resolved' AND a.kind IN "
            "   ('inspection_overdue', 'maintenance_overdue')), '{}') AS open_kinds "
            "FROM elevators e WHERE e.decommissioned_at IS NULL ORDER BY e.pk").fetchall()
