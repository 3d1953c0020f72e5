"""Per-device broker credentials (CONTRACT section 8): issue, replace, revoke, verify.

The password is 192 random bits, shown once. What is kept is its hash in Mosquitto's own
format (PBKDF2-SHA512, 12-byte salt, as ``mosquitto_passwd`` and the dynamic-security
plugin store it): the broker's configuration can be written from the database alone
(:func:`all_hashes`), and an HTTP auth hook can check a password (:func:`verify`). A random
password of that length makes a slow hash unnecessary, as for API tokens.

Changes are announced on ``whistle_devices`` so a running ingester can bring the broker in
step; the API applies them to the broker itself in the same request.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from core.devicehash import ITERATIONS, SALT_BYTES, DeviceHash, hash_password
from storage import outbox
from storage.errors import NotFound

CHANNEL = "whistle_devices"


def issue(conn: psycopg.Connection, *, elevator_pk: int, username: str, by: str
          ) -> tuple[dict[str, Any], str]:
    """New credentials for the device (replacing any): (the row without the hash, the clear
    password). Call it inside the caller's transaction when the broker must take the
    password before the change is committed."""
    password = secrets.token_urlsafe(24)
    salt, digest = hash_password(password)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        existed = cur.execute("SELECT 1 FROM device_credentials WHERE elevator_pk = %s "
                              "FOR UPDATE", (elevator_pk,)).fetchone() is not None
        row = cur.execute(
            "INSERT INTO device_credentials (elevator_pk, username, salt, password_hash, "
            "iterations, issued_by) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (elevator_pk) DO UPDATE SET username = EXCLUDED.username, "
            "salt = EXCLUDED.salt, password_hash = EXCLUDED.password_hash, "
            "iterations = EXCLUDED.iterations, issued_at = now(), "
            "issued_by = EXCLUDED.issued_by RETURNING username, issued_at, issued_by",
            (elevator_pk, username, salt, digest, ITERATIONS, by)).fetchone()
        cur.execute("INSERT INTO device_credential_events (elevator_pk, action, by_actor) "
                    "VALUES (%s, %s, %s)", (elevator_pk, "replaced" if existed else "issued", by))
        outbox.notify(conn, CHANNEL, {"elevator_pk": elevator_pk, "change": "issued"})
    assert row is not None
    return row, password


def revoke(conn: psycopg.Connection, *, elevator_pk: int, by: str, note: str | None = None,
           missing_ok: bool = False) -> str | None:
    """Delete the device's credentials; the username that had them. NotFound if it had
    none (unless missing_ok)."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("DELETE FROM device_credentials WHERE elevator_pk = %s "
                          "RETURNING username", (elevator_pk,)).fetchone()
        if row is None:
            if missing_ok:
                return None
            raise NotFound("this elevator has no device credentials")
        cur.execute("INSERT INTO device_credential_events (elevator_pk, action, by_actor, note) "
                    "VALUES (%s, 'revoked', %s, %s)", (elevator_pk, by, note))
        outbox.notify(conn, CHANNEL, {"elevator_pk": elevator_pk, "change": "revoked"})
    return str(row[0])


def status(conn: psycopg.Connection, *, elevator_pk: int) -> dict[str, Any]:
    """Whether the device has credentials, since when and from whom, and the record of
    issues and revocations (newest first); never the hash."""
    with conn.cursor(row_factory=dict_row) as cur:
        current = cur.execute("SELECT username, issued_at, issued_by FROM device_credentials "
                              "WHERE elevator_pk = %s", (elevator_pk,)).fetchone()
        events = cur.execute("SELECT action, at, by_actor AS by, note FROM "
                             "device_credential_events WHERE elevator_pk = %s "
                             "ORDER BY at DESC, id DESC LIMIT 50", (elevator_pk,)).fetchall()
    return {"active": current is not None, **(current or {}), "events": events}


def all_hashes(conn: psycopg.Connection) -> list[DeviceHash]:
    """Every device login, for the broker's configuration."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return [DeviceHash(r[0], bytes(r[1]), bytes(r[2]), int(r[3])) for r in cur.execute(
            "SELECT username, salt, password_hash, iterations FROM device_credentials "
            "ORDER BY username").fetchall()]


def verify(conn: psycopg.Connection, *, username: str, password: str) -> bool:
    """True if these are a device's current credentials (constant-time comparison; an
    unknown username costs a hash too)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT salt, password_hash, iterations FROM device_credentials "
                          "WHERE username = %s", (username,)).fetchone()
    salt, want, iterations = ((bytes(row[0]), bytes(row[1]), int(row[2])) if row
                              else (b"\0" * SALT_BYTES, b"", ITERATIONS))
    _, got = hash_password(password, salt=salt, iterations=iterations)
    return hmac.compare_digest(got, want) and row is not None


def known(conn: psycopg.Connection, *, username: str) -> bool:
    """Whether the username is a device's that holds credentials."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute("SELECT 1 FROM device_credentials WHERE username = %s",
                           (username,)).fetchone() is not None
