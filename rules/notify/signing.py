"""Webhook signatures: HMAC-SHA256 with the webhook's secret.

Headers of every delivery::

    X-Whistle-Signature-256: t=<timestamp>,v1=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>
    X-Whistle-Signature: sha256=<hex of HMAC-SHA256(secret, body)>   (v1, kept)
    X-Whistle-Timestamp: <unix seconds when this attempt was sent, the same timestamp>
    X-Whistle-Event:     alert.raised | alert.escalated | ... | alerts.raised (grouped)
    X-Whistle-Delivery:  <message id, the same for every attempt of one message>
    X-Whistle-Attempt:   1, 2, ...

The v2 signature covers the timestamp, so a receiver refuses replays by verifying it and
refusing a timestamp more than a few minutes from its own clock (:func:`verify_timestamped`),
and, within that window, a ``X-Whistle-Delivery`` id + attempt it has seen already. The v1
signature covers only the body (its ``id`` and ``created_at`` help against replays, but a
captured request stays valid forever): receivers should move to the v2 header.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Whistle-Signature"
SIGNATURE_256_HEADER = "X-Whistle-Signature-256"
REPLAY_TOLERANCE_S = 300
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


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_timestamped(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-Whistle-Signature-256 value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_timestamped(*, secret: str, body: bytes, header: str, now: float | None = None,
                       tolerance_s: float = REPLAY_TOLERANCE_S) -> bool:
    """True if the X-Whistle-Signature-256 header matches the body and its timestamp is
    within tolerance_s of now (what a receiver does to refuse replays)."""
    fields: dict[str, list[str]] = {}
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))
