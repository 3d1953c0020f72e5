"""Delivering webhook messages: signed POSTs, retried with exponential backoff.

Every attempt is a row of ``webhook_deliveries`` (status, response code, error, attempt,
when the next one is due) and a ``notified`` entry in the audit trail of each alert (or
case) the message is about (the outcome only: the receiver's error text stays in the
deliveries, which only admins read, since the trail is seen by every organization).

Before each attempt the URL is checked again (core.netguard: https, public addresses
only, unless allow_private) and the request goes to an address that was checked, so a
DNS answer that changed in between cannot point it elsewhere. Logs name the host only.
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

from core import netguard
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
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_256_HEADER: signing.sign_timestamped(
            secret=delivery["secret"], timestamp=timestamp, body=body),
        signing.SIGNATURE_HEADER: signing.sign(secret=delivery["secret"], body=body),
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.EVENT_HEADER: delivery["event"],
        signing.DELIVERY_HEADER: str(delivery["message_id"]),
        signing.ATTEMPT_HEADER: str(delivery["attempt"]),
    }


class Sender:
    """Sends due deliveries in a small thread pool and records every outcome."""

    def __init__(self, pool: ConnectionPool, policy: Webhooks, *,
                 clock: Callable[[], float] = time.time, workers: int = 4,
                 allow_private: bool = False) -> None:
        self.pool = pool
        self.policy = policy
        self.clock = clock
        self.allow_private = allow_private
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
            target = netguard.check(delivery["url"], allow_private=self.allow_private)
        except netguard.RefusedURL as exc:
            self._record(delivery, None, f"refused, not sent: {exc}"[:500])
            return
        try:
            response = self._post(delivery, target)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # a bug must not lose the attempt record
            log.exception("webhook attempt failed unexpectedly", delivery=delivery["id"])
            error = f"{type(exc).__name__}: {exc}"[:500]
        self._record(delivery, code, error)

    def _post(self, delivery: dict[str, Any], target: netguard.Target) -> httpx.Response:
        """POST to the checked addresses in turn (the next one if a connection fails),
        with the URL's own Host header and TLS server name."""
        url = httpx.URL(delivery["url"])
        request_headers = headers(delivery=delivery, now=self.clock())
        request_headers["Host"] = url.netloc.decode("ascii")
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        last: httpx.ConnectError | None = None
        for ip in target.addresses:
            try:
                return self._http.post(url.copy_with(host=str(ip)),
                                       content=bytes(delivery["body"]),
                                       headers=request_headers, extensions=extensions)
            except httpx.ConnectError as exc:
                last = exc
        assert last is not None  # netguard.check returns at least one address
        raise last

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
                   "outcome": outcome, "response_code": code,
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
            log.warning("webhook delivery failed", host=netguard.host_of(delivery["url"]),
                        webhook=delivery["webhook_id"], error=error,
                        attempt=delivery["attempt"], next_try_at=retry_at)
