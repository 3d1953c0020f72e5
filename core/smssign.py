"""The request signatures of the two most used Chinese SMS APIs, as their providers
document them, so an organization's gateway can call them directly (no signing relay):

- Aliyun (dysmsapi ``SendSms``): the RPC signature, version 1.0: the parameters sorted,
  percent-encoded (RFC 3986), ``POST&%2F&`` + the encoded query, HMAC-SHA1 with
  ``AccessKeySecret&``, base64, as the ``Signature`` parameter;
- Tencent Cloud (``SendSms`` 2021-01-11): TC3-HMAC-SHA256 over the canonical request
  (method, ``/``, no query, the ``content-type`` and ``host`` headers, SHA-256 of the
  body), the key derived from ``TC3`` + SecretKey by date, service and ``tc3_request``,
  in the ``Authorization`` header.

Standard HMAC and SHA from Python's library; the tests check both against the providers'
own SDKs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

__all__ = ["SIGNINGS", "aliyun", "tencent"]

SIGNINGS = ("none", "aliyun", "tencent")


def _pe(value: str) -> str:
    """Aliyun's percentEncode: RFC 3986, UTF-8, space as %20, ``~`` kept."""
    return quote(value, safe="~")


def aliyun(method: str, body: bytes, *, access_key_id: str, secret: str, now: float
           ) -> bytes:
    """The form body with the signature parameters and ``Signature`` added (a Timestamp
    and SignatureNonce already in the body are kept)."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    params.pop("Signature", None)
    params.setdefault("AccessKeyId", access_key_id)
    params.setdefault("SignatureMethod", "HMAC-SHA1")
    params.setdefault("SignatureVersion", "1.0")
    params.setdefault("SignatureNonce", uuid.uuid4().hex)
    params.setdefault("Timestamp", datetime.fromtimestamp(now, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"))
    params["Signature"] = aliyun_signature(method, params, secret)
    return "&".join(f"{_pe(k)}={_pe(v)}" for k, v in params.items()).encode()


def aliyun_signature(method: str, params: dict[str, str], secret: str) -> str:
    """The RPC signature of these parameters (``Signature`` itself excluded)."""
    canonical = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in sorted(params.items())
                         if k != "Signature")
    to_sign = f"{method.upper()}&{_pe('/')}&{_pe(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def tencent(headers: dict[str, str], body: bytes, *, host: str, secret_id: str,
            secret_key: str, service: str = "sms") -> dict[str, str]:
    """The headers with ``Authorization`` added; ``X-TC-Timestamp`` (from the template)
    dates the signature."""
    try:
        timestamp = int(headers["X-TC-Timestamp"])
    except (KeyError, ValueError):
        raise ValueError("a Tencent Cloud request needs an X-TC-Timestamp header "
                         "(the example template has X-TC-Timestamp: $timestamp)") from None
    content_type = headers.get("Content-Type", "application/json")
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join([
        "POST", "/", "", f"content-type:{content_type}\nhost:{host}\n", "content-type;host",
        hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"TC3{secret_key}".encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {**headers, "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
                                        f"SignedHeaders=content-type;host, Signature={signature}"}
