"""The alert outbox and PostgreSQL LISTEN/NOTIFY: how alert changes leave the database.

A change is written to ``alert_outbox`` (with the alert object after it) and announced on
the ``whistle_alerts`` channel in the transaction that makes it. The rules service
publishes and deletes outbox rows (MQTT, webhooks); every API process listens on the
channel to feed its SSE streams. Registry changes that the rules service must notice
(seals, inspections, maintenance) are announced on ``whistle_registry``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

ALERTS_CHANNEL = "whistle_alerts"
REGISTRY_CHANNEL = "whistle_registry"

Row = dict[str, Any]


def record_change(conn: psycopg.Connection, *, alert_id: int, change: str, actor: str,
                  details: dict[str, Any] | None = None) -> int:
    """Queue the alert object as it is now for publication, and announce it; the row id."""
    from storage.alerts import ALERT_COLUMNS, ALERT_FROM

    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO alert_outbox (alert_id, change, actor, details, alert) "
            "SELECT x.id, %(change)s, %(actor)s, %(details)s, to_jsonb(x) "
            f"FROM (SELECT {ALERT_COLUMNS} {ALERT_FROM} WHERE a.id = %(id)s) x "
            "RETURNING id, (alert ->> 'elevator_id') AS elevator_id",
            {"id": alert_id, "change": change, "actor": actor,
             "details": Jsonb(details or {})}).fetchone()
    assert row is not None, f"alert {alert_id} vanished"
    notify(conn, ALERTS_CHANNEL, {"outbox_id": row["id"], "alert_id": alert_id,
                                  "change": change, "elevator_id": row["elevator_id"]})
    return int(row["id"])


def claim(conn: psycopg.Connection, *, limit: int) -> list[Row]:
    """Take the oldest outbox rows (deleted when the caller's transaction commits)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "DELETE FROM alert_outbox WHERE id IN (SELECT id FROM alert_outbox ORDER BY id "
            "LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING id, alert_id, change, actor, details, alert, created_at",
            (limit,)).fetchall()


def pending(conn: psycopg.Connection) -> int:
    """Outbox rows not yet published."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT count(*) FROM alert_outbox").fetchone()
    return int(row[0]) if row else 0


def notify(conn: psycopg.Connection, channel: str, payload: dict[str, Any]) -> None:
    """NOTIFY a channel with a JSON payload (delivered when the transaction commits)."""
    conn.execute("SELECT pg_notify(%s, %s)", (channel, json.dumps(payload, default=str)))


def listen(conn: psycopg.Connection, *channels: str) -> None:
    """LISTEN on channels (the connection must be in autocommit mode)."""
    for channel in channels:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))


def received(conn: psycopg.Connection, *, timeout: float) -> Iterator[tuple[str, Row]]:
    """(channel, payload) of the notifications arriving within timeout seconds."""
    for n in conn.notifies(timeout=timeout):
        try:
            payload = json.loads(n.payload) if n.payload else {}
        except ValueError:
            payload = {"raw": n.payload}
        yield n.channel, payload if isinstance(payload, dict) else {"value": payload}
