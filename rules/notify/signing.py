"""Webhook signatures: HMAC-SHA256 of the raw request body with the webhook's secret.

Headers of every delivery::

    X-Whistle-Signature: sha256=<hex of HMAC-SHA256(secret, body)>
    X-Whistle-Timestamp: <unix seconds when this attempt was sent>
    X-Whistle-Event:     alert.raised | alert.escalated | ... | alerts.raised (grouped)
    X-Whistle-Delivery:  <message id, the same for every attempt of one message>
    X-Whistle-Attempt:   1, 2, ...

The body itself carries the message ``id`` and its ``created_at``, so a receiver that
verifies the signature can also refuse replays (an id seen before, or an old created_at).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Whistle-Signature"
TIMESTAMP_HEADER = "X-Whistle-Timestamp"
EVENT_HEADER = "X-Whistle-Event"
DELIVERY_HEADER = "X-Whistle-Delivery"
ATTEMPT_HEADER = "X-Whistle-Attempt"


def sign(*, secret: str, body: bytes) -> str:
    """The X-Whistle-Signature value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(*, secret: str, body: bytes, signature: str) -> bool:
    """True if the signature header matches the body (constant-time comparison)."""
    return hmac.compare_digest(sign(secret=secret, body=body), signature or "")
