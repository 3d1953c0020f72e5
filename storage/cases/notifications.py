"""Messages of cases to people's and organizations' channels (issue 15): queued, attempted
with retries, each outcome on the case's record (this table and a ``notified`` entry of
the trail). The only writer of ``case_notifications``.

A row is one message to one channel. When a channel gives up (or is skipped: removed, the
daily SMS cap reached) the next channel of its person or organization (``fallback``) gets
a row of its own, so the record shows every channel tried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from storage.cases.changes import WHISTLE

__all__ = ["claim_due", "day_start", "enqueue", "finish", "for_case", "release_interrupted",
           "sms_sent"]

Row = dict[str, Any]

SHOWN = ("id, case_ids, org_id, person_id, recipient, channel, target, change, state, "
         "attempt, error, created_at, finished_at, next_try_at")


def enqueue(conn: psycopg.Connection, *, case_ids: list[int], org_id: int,
            person_id: int | None, recipient: str, channel: Row | None, target: str,
            change: str, message: Row, fallback: list[int], now: datetime,
            skipped: str | None = None) -> int:
    """Queue a message to a channel (or record, with ``skipped``, that nobody could be
    reached: on this table only, not the trail); its id."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO case_notifications (case_ids, org_id, person_id, recipient, "
            "channel_id, channel, target, change, message, fallback, state, next_try_at, "
            "error, created_at, finished_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (case_ids, org_id, person_id, recipient, channel["id"] if channel else None,
             channel["kind"] if channel else "none", target, change, Jsonb(message),
             fallback, "skipped" if skipped else "pending", now, skipped, now,
             now if skipped else None)).fetchone()
    assert row is not None
    return int(row[0])


def claim_due(conn: psycopg.Connection, *, now: datetime, limit: int) -> list[Row]:
    """Take due messages (state ``sending`` until :func:`finish`)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "UPDATE case_notifications SET state = 'sending', attempt = attempt + 1 "
            "WHERE id IN (SELECT id FROM case_notifications WHERE state = 'pending' "
            "AND next_try_at <= %s ORDER BY next_try_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING id, case_ids, org_id, person_id, recipient, channel_id, channel, "
            "target, change, message, fallback, attempt", (now, limit)).fetchall()


def release_interrupted(conn: psycopg.Connection) -> int:
    """Messages a previous run left half-sent are due again."""
    with conn.transaction():
        return conn.execute("UPDATE case_notifications SET state = 'pending' "
                            "WHERE state = 'sending'").rowcount


def _trail(conn: psycopg.Connection, case_ids: list[int], org_id: int, details: Row,
           at: datetime) -> None:
    conn.execute(
        "INSERT INTO case_events (case_id, at, action, actor, org_id, details) "
        "SELECT c.id, %s, 'notified', %s, %s, %s FROM cases c WHERE c.id = ANY(%s)",
        (at, WHISTLE, org_id, Jsonb(details), case_ids))


def finish(conn: psycopg.Connection, *, row: Row, error: str | None, retry_at: datetime | None,
           now: datetime, skipped: bool = False) -> str:
    """Record an attempt: delivered, due again at ``retry_at``, or failed (skipped); the
    outcome. Delivered and given-up attempts go on the cases' trails."""
    if error is None:
        state, outcome = "delivered", "delivered"
    elif retry_at is not None and not skipped:
        state, outcome = "pending", "retry"
    else:
        state, outcome = ("skipped", "skipped") if skipped else ("failed", "gave_up")
    with conn.transaction():
        conn.execute(
            "UPDATE case_notifications SET state = %s, error = %s, next_try_at = "
            "coalesce(%s, next_try_at), finished_at = CASE WHEN %s THEN NULL ELSE %s END "
            "WHERE id = %s",
            (state, error, retry_at, state == "pending", now, row["id"]))
        if state != "pending":
            _trail(conn, list(row["case_ids"]), row["org_id"], {
                "channel": row["channel"], "recipient": row["recipient"],
                "target": row["target"], "change": row["change"], "attempt": row["attempt"],
                "outcome": outcome, "notification_id": row["id"],
                "error": error[:200] if error else None}, now)
    return outcome


def sms_sent(conn: psycopg.Connection, *, org_id: int, since: datetime) -> int:
    """SMS messages of an organization delivered or being sent since ``since``."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT count(*) FROM case_notifications WHERE org_id = %s AND channel = 'sms' "
            "AND created_at >= %s AND state IN ('delivered', 'sending')",
            (org_id, since)).fetchone()
    return int(row[0]) if row else 0


def for_case(conn: psycopg.Connection, *, case_id: int) -> list[Row]:
    """Every message of a case to a channel, oldest first (targets masked)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {SHOWN} FROM case_notifications WHERE case_ids @> ARRAY[%s]::bigint[] "
            "ORDER BY id", (case_id,)).fetchall()


def day_start(now: datetime, tz: Any) -> datetime:
    """The last local midnight before ``now`` in ``tz``."""
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
