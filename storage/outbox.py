"""PostgreSQL LISTEN/NOTIFY: how changes leave the database as they commit.

An alert change is written to ``alert_outbox`` (by :mod:`storage.alerts.changes`, with the
alert object after it) and announced on the ``whistle_alerts`` channel in the transaction
that makes it. The rules service publishes and deletes outbox rows (MQTT, webhooks); every
API process listens on the channel to feed its SSE streams. Registry changes that the rules
service must notice (seals, inspections, maintenance) are announced on ``whistle_registry``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

ALERTS_CHANNEL = "whistle_alerts"
REGISTRY_CHANNEL = "whistle_registry"

Row = dict[str, Any]


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
