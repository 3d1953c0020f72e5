"""Webhooks of organizations and the record of every delivery attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from storage.errors import Conflict, NotFound

Row = dict[str, Any]

WEBHOOK_COLUMNS = "id, org_id, url, created_at"
DELIVERY_COLUMNS = ("id, webhook_id, message_id, event, alert_ids, case_ids, attempt, status, "
                    "due_at, attempted_at, response_code, error, next_try_at, created_at")


def create(conn: psycopg.Connection, *, org_id: int, url: str, secret: str) -> Row:
    """Register a webhook for an organization; Conflict if it has this URL already."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "INSERT INTO webhooks (org_id, url, secret) VALUES (%s, %s, %s) "
                f"RETURNING {WEBHOOK_COLUMNS}, secret", (org_id, url, secret)).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"organization {org_id} already has a webhook for {url}") from None
    assert row is not None
    return row


def list_for_org(conn: psycopg.Connection, *, org_id: int) -> list[Row]:
    """The webhooks of one organization (without their secrets)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = %s "
                           "ORDER BY id", (org_id,)).fetchall()


def delete(conn: psycopg.Connection, *, org_id: int, webhook_id: int) -> None:
    """Remove a webhook (and its delivery records); NotFound if absent."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("DELETE FROM webhooks WHERE id = %s AND org_id = %s RETURNING id",
                          (webhook_id, org_id)).fetchone()
    if row is None:
        raise NotFound(f"organization {org_id} has no webhook {webhook_id}")


def deliveries(conn: psycopg.Connection, *, org_id: int, webhook_id: int, limit: int,
               offset: int) -> list[Row]:
    """Delivery attempts of one webhook, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        if cur.execute("SELECT 1 FROM webhooks WHERE id = %s AND org_id = %s",
                       (webhook_id, org_id)).fetchone() is None:
            raise NotFound(f"organization {org_id} has no webhook {webhook_id}")
        return cur.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = %s "
            "ORDER BY id DESC LIMIT %s OFFSET %s", (webhook_id, limit, offset)).fetchall()


def enqueue(conn: psycopg.Connection, *, org_id: int, event: str, body: bytes,
            alert_ids: list[int], message_id: uuid.UUID, now: datetime,
            case_ids: list[int] | None = None) -> int:
    """Schedule the first attempt of a message to every webhook of the org; how many. A
    message is about alerts (``alert_ids``) or cases (``case_ids``). An organization whose
    service ended receives nothing."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "INSERT INTO webhook_deliveries (webhook_id, message_id, event, alert_ids, "
            "case_ids, body, due_at) SELECT w.id, %s, %s, %s, %s, %s, %s FROM webhooks w "
            "JOIN orgs o ON o.id = w.org_id WHERE w.org_id = %s "
            "AND (o.ended_at IS NULL OR o.ended_at > now())",
            (message_id, event, alert_ids, case_ids or [], body, now, org_id))
        return cur.rowcount


def claim_due(conn: psycopg.Connection, *, now: datetime, limit: int) -> list[Row]:
    """Mark due attempts as being sent and return them with their URL and secret."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "UPDATE webhook_deliveries d SET status = 'sending', attempted_at = %(now)s "
            "FROM webhooks w WHERE w.id = d.webhook_id AND d.id IN ("
            "  SELECT id FROM webhook_deliveries WHERE status = 'pending' "
            "  AND due_at <= %(now)s ORDER BY due_at, id LIMIT %(limit)s "
            "  FOR UPDATE SKIP LOCKED) "
            "RETURNING d.id, d.webhook_id, d.message_id, d.event, d.alert_ids, d.case_ids, "
            "d.body, d.attempt, w.url, w.secret, w.org_id",
            {"now": now, "limit": limit}).fetchall()


def finish(conn: psycopg.Connection, *, delivery: Row, delivered: bool,
           response_code: int | None, error: str | None, retry_at: datetime | None) -> None:
    """Record the outcome of an attempt; schedule the next one if retry_at is given."""
    with conn.transaction():
        conn.execute(
            "UPDATE webhook_deliveries SET status = %s, response_code = %s, error = %s, "
            "next_try_at = %s WHERE id = %s",
            ("delivered" if delivered else "failed", response_code, error, retry_at,
             delivery["id"]))
        if retry_at is not None:
            conn.execute(
                "INSERT INTO webhook_deliveries (webhook_id, message_id, event, alert_ids, "
                "case_ids, body, attempt, due_at) SELECT webhook_id, message_id, event, "
                "alert_ids, case_ids, body, attempt + 1, %s FROM webhook_deliveries "
                "WHERE id = %s",
                (retry_at, delivery["id"]))


def release_interrupted(conn: psycopg.Connection) -> int:
    """Attempts left 'sending' by a stopped service are due again; how many."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("UPDATE webhook_deliveries SET status = 'pending' "
                    "WHERE status = 'sending'")
        return cur.rowcount


def orgs_with_webhooks(conn: psycopg.Connection, *, org_ids: list[int]) -> set[int]:
    """Which of these organizations have at least one webhook."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return {int(r[0]) for r in cur.execute(
            "SELECT DISTINCT org_id FROM webhooks WHERE org_id = ANY(%s)",
            (org_ids,)).fetchall()}
