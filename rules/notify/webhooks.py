"""Delivering webhook messages: signed POSTs, retried with exponential backoff.

Every attempt is a row of ``webhook_deliveries`` (status, response code, error, attempt,
when the next one is due) and a ``notified`` entry in the audit trail of each alert (or
case) the message is about.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from rules.notify import signing
from rules.policy import Webhooks
from storage import webhooks
from storage.alerts import changes
from storage.cases import changes as case_changes

log = structlog.get_logger(__name__)

DELIVERIES = Counter("whistle_webhook_deliveries",
                     "Webhook delivery attempts, by outcome (delivered, retry, gave_up)",
                     ["outcome"])
CLAIM_LIMIT = 32
USER_AGENT = "Whistle-Webhook/1"


def headers(*, delivery: dict[str, Any], now: float) -> dict[str, str]:
    """The headers of one attempt, signature included."""
    body: bytes = bytes(delivery["body"])
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.sign(secret=delivery["secret"], body=body),
        signing.TIMESTAMP_HEADER: str(int(now)),
        signing.EVENT_HEADER: delivery["event"],
        signing.DELIVERY_HEADER: str(delivery["message_id"]),
        signing.ATTEMPT_HEADER: str(delivery["attempt"]),
    }


class Sender:
    """Sends due deliveries in a small thread pool and records every outcome."""

    def __init__(self, pool: ConnectionPool, policy: Webhooks, *,
                 clock: Callable[[], float] = time.time, workers: int = 4) -> None:
        self.pool = pool
        self.policy = policy
        self.clock = clock
        self._http = httpx.Client(timeout=policy.timeout_s, follow_redirects=False)
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="whistle-webhook")

    def close(self) -> None:
        """Finish attempts in progress and release the HTTP client."""
        self._executor.shutdown(wait=True)
        self._http.close()

    def release_interrupted(self) -> int:
        """Attempts a previous run left half-done are due again."""
        with self.pool.connection() as conn:
            return webhooks.release_interrupted(conn)

    def run_once(self) -> int:
        """Send every due attempt (up to a batch); how many were tried."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self.pool.connection() as conn:
            due = webhooks.claim_due(conn, now=now, limit=CLAIM_LIMIT)
        if due:
            list(self._executor.map(self._attempt, due))
        return len(due)

    def _attempt(self, delivery: dict[str, Any]) -> None:
        code: int | None = None
        error: str | None = None
        try:
            response = self._http.post(delivery["url"], content=bytes(delivery["body"]),
                                       headers=headers(delivery=delivery, now=self.clock()))
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # a bug must not lose the attempt record
            log.exception("webhook attempt failed unexpectedly", delivery=delivery["id"])
            error = f"{type(exc).__name__}: {exc}"[:500]
        self._record(delivery, code, error)

    def _record(self, delivery: dict[str, Any], code: int | None, error: str | None) -> None:
        delivered = error is None
        retry = None if delivered else self.policy.retry_after(delivery["attempt"])
        now = datetime.fromtimestamp(self.clock(), UTC)
        retry_at = now + timedelta(seconds=retry) if retry is not None else None
        outcome = "delivered" if delivered else ("retry" if retry_at else "gave_up")
        DELIVERIES.labels(outcome).inc()
        details = {"channel": "webhook", "event": delivery["event"],
                   "webhook_id": delivery["webhook_id"], "delivery_id": delivery["id"],
                   "message_id": str(delivery["message_id"]), "attempt": delivery["attempt"],
                   "outcome": outcome, "response_code": code, "error": error,
                   "next_try_at": retry_at.isoformat() if retry_at else None}
        with self.pool.connection() as conn:
            webhooks.finish(conn, delivery=delivery, delivered=delivered,
                            response_code=code, error=error, retry_at=retry_at)
            with conn.transaction():
                if delivery["alert_ids"]:
                    changes.notified(conn, alert_ids=list(delivery["alert_ids"]),
                                     org_id=delivery["org_id"], details=details)
                if delivery.get("case_ids"):
                    case_changes.notified(conn, case_ids=list(delivery["case_ids"]),
                                          org_id=delivery["org_id"], details=details)
        if not delivered:
            log.warning("webhook delivery failed", url=delivery["url"], error=error,
                        attempt=delivery["attempt"], next_try_at=retry_at)
