"""Who may call: people, their sessions, tokens (of an organization or of a person), and
the lock-out of sign-in attempts (CONTRACT section 5).

Nothing is cached: every request looks its credential up, so a revoked or expired token,
a removed person and an organization whose service ended answer 401 at once. Secrets are
stored only as hashes: tokens and session ids (256 random bits) as SHA-256, passwords with
argon2id (argon2-cffi). ``last_used_at`` is written at most once a minute per credential.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row, tuple_row

from core.domain import OrgKind, Principal
from storage.errors import Conflict, Invalid, NotFound

__all__ = ["LOCKOUT_FAILURES", "LOCKOUT_WINDOW", "create_person", "create_session",
           "create_ticket", "create_token", "delete_person", "end_session", "hash_secret",
           "list_people", "list_tokens", "locked_for", "principal_for_session",
           "principal_for_token", "redeem_ticket", "revoke_token", "verify_password"]

Row = dict[str, Any]

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=10)
TOUCH_EVERY = timedelta(minutes=1)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against for unknown logins, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

PERSON_COLUMNS = "id, org_id, login, name, phone, manager, created_at"
TOKEN_COLUMNS = ("id, org_id, label, person_id, manager, created_at, last_used_at, "
                 "expires_at, revoked_at")

# A credential works while its organization has not ended (or ends later).
_ORG_ACTIVE = "(o.ended_at IS NULL OR o.ended_at > now())"


def hash_secret(secret: str) -> bytes:
    """SHA-256 of a token or session id (256-bit random, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode()).digest()


def _principal(row: Row) -> Principal:
    return Principal(org_id=row["org_id"], kind=OrgKind(row["kind"]), name=row["name"],
                     district=row["district"], token_id=row.get("token_id"),
                     token_label=row.get("label"), person_id=row.get("person_id"),
                     person_name=row.get("person_name"), manager=bool(row.get("manager")),
                     session_id=row.get("session_id"))


# --- people ----------------------------------------------------------------------------
def create_person(conn: psycopg.Connection, *, org_id: int, login: str, name: str,
                  password: str, phone: str | None, manager: bool, created_by: str) -> Row:
    """A new person of an organization; Conflict if the login is taken."""
    password_hash = _hasher.hash(password)
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "INSERT INTO people (org_id, login, name, phone, manager, password_hash, "
                f"created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {PERSON_COLUMNS}",
                (org_id, login, name, phone, manager, password_hash, created_by)).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"the login {login!r} is already taken") from None
    assert row is not None
    return row


def list_people(conn: psycopg.Connection, *, org_id: int, limit: int, offset: int
                ) -> list[Row]:
    """The organization's people (not removed ones), never a password or its hash."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {PERSON_COLUMNS} FROM people WHERE org_id = %s AND deleted_at IS NULL "
            "ORDER BY id LIMIT %s OFFSET %s", (org_id, limit, offset)).fetchall()


def delete_person(conn: psycopg.Connection, *, org_id: int, person_id: int, by: str) -> None:
    """Remove a person: their sessions end and their tokens are revoked, at once."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "UPDATE people SET deleted_at = now(), deleted_by = %s WHERE id = %s "
            "AND org_id = %s AND deleted_at IS NULL RETURNING id",
            (by, person_id, org_id)).fetchone()
        if row is None:
            raise NotFound(f"person {person_id} does not exist")
        cur.execute("DELETE FROM sessions WHERE person_id = %s", (person_id,))
        cur.execute("UPDATE api_tokens SET revoked_at = now(), revoked_by = %s "
                    "WHERE person_id = %s AND revoked_at IS NULL", (by, person_id))


def verify_password(conn: psycopg.Connection, *, login: str, password: str) -> Row | None:
    """The person signing in, or None: an unknown login, a removed person, an ended
    organization and a wrong password all take one argon2 verification."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT p.id, p.org_id, p.name, p.password_hash, o.kind::text AS kind "
            "FROM people p JOIN orgs o ON o.id = p.org_id WHERE lower(p.login) = lower(%s) "
            f"AND p.deleted_at IS NULL AND {_ORG_ACTIVE}", (login,)).fetchone()
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return row


def locked_for(conn: psycopg.Connection, *, login: str, now: datetime) -> float:
    """Seconds the login stays locked out (0 if it is not): 5 failures within 10 minutes
    lock it for 10 minutes from the fifth."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT at FROM signin_failures WHERE lower(login) = lower(%s) AND at > %s "
            "ORDER BY at DESC LIMIT %s",
            (login, now - 2 * LOCKOUT_WINDOW, LOCKOUT_FAILURES)).fetchall()
    times = [r[0] for r in rows]
    for i in range(len(times) - LOCKOUT_FAILURES + 1):  # the 5 latest within a window
        window = times[i:i + LOCKOUT_FAILURES]
        if window[0] - window[-1] <= LOCKOUT_WINDOW:
            left = float((window[0] + LOCKOUT_WINDOW - now).total_seconds())
            return max(0.0, left)
    return 0.0


def record_failure(conn: psycopg.Connection, *, login: str) -> None:
    """A failed sign-in for this login (known or not)."""
    conn.execute("INSERT INTO signin_failures (login) VALUES (%s)", (login[:200],))


# --- sessions --------------------------------------------------------------------------
def create_session(conn: psycopg.Connection, *, person_id: int, lifetime: timedelta
                   ) -> tuple[str, Row]:
    """A new session: (the clear session id for the cookie, its row)."""
    session = secrets.token_urlsafe(32)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO sessions (session_hash, person_id, expires_at) "
            "VALUES (%s, %s, now() + %s) RETURNING id, person_id, expires_at",
            (hash_secret(session), person_id, lifetime)).fetchone()
    assert row is not None
    return session, row


def end_session(conn: psycopg.Connection, *, session_id: int) -> None:
    """Sign out: the session is gone from the server."""
    conn.execute("DELETE FROM sessions WHERE id = %s", (session_id,))


def _session_principal(conn: psycopg.Connection, which: str, value: object
                       ) -> Principal | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT s.id AS session_id, s.last_used_at, p.id AS person_id, "
            "p.name AS person_name, p.manager, o.id AS org_id, o.name, o.kind::text AS kind, "
            "o.district FROM sessions s JOIN people p ON p.id = s.person_id "
            f"JOIN orgs o ON o.id = p.org_id WHERE {which} "
            f"AND s.expires_at > now() AND p.deleted_at IS NULL AND {_ORG_ACTIVE}",
            (value,)).fetchone()
        if row is None:
            return None
        if row["last_used_at"] < datetime.now(row["last_used_at"].tzinfo) - TOUCH_EVERY:
            cur.execute("UPDATE sessions SET last_used_at = now() WHERE id = %s",
                        (row["session_id"],))
    return _principal(row)


def principal_for_session(conn: psycopg.Connection, *, session: str) -> Principal | None:
    """The person behind a session cookie, or None (unknown, expired, removed, ended)."""
    return _session_principal(conn, "s.session_hash = %s", hash_secret(session))


# --- tokens ----------------------------------------------------------------------------
def create_token(conn: psycopg.Connection, *, org_id: int, label: str | None,
                 person_id: int | None = None, expires_at: datetime | None = None,
                 manager: bool = False, created_by: str | None = None) -> Row:
    """A new API token; the clear token is returned only here."""
    if person_id is not None:
        with conn.cursor(row_factory=tuple_row) as cur:
            if cur.execute("SELECT 1 FROM people WHERE id = %s AND org_id = %s AND "
                           "deleted_at IS NULL", (person_id, org_id)).fetchone() is None:
                raise Invalid("person_id", f"person {person_id} is not in this organization")
    token = secrets.token_urlsafe(32)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO api_tokens (org_id, token_hash, label, person_id, expires_at, "
            f"manager, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {TOKEN_COLUMNS}",
            (org_id, hash_secret(token), label, person_id, expires_at, manager,
             created_by)).fetchone()
    assert row is not None
    return {**row, "token": token}


def list_tokens(conn: psycopg.Connection, *, org_id: int, limit: int, offset: int
                ) -> list[Row]:
    """The organization's tokens, never the token."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE org_id = %s "
                           "ORDER BY id LIMIT %s OFFSET %s", (org_id, limit, offset)).fetchall()


def revoke_token(conn: psycopg.Connection, *, org_id: int, token_id: int, by: str) -> None:
    """The token answers 401 from now on; NotFound if it is not the org's or is revoked."""
    with conn.cursor(row_factory=tuple_row) as cur:
        if cur.execute("UPDATE api_tokens SET revoked_at = now(), revoked_by = %s "
                       "WHERE id = %s AND org_id = %s AND revoked_at IS NULL RETURNING id",
                       (by, token_id, org_id)).fetchone() is None:
            raise NotFound(f"token {token_id} does not exist or is already revoked")


_TOKEN_PRINCIPAL = (
    "SELECT t.id AS token_id, t.label, t.last_used_at, t.manager OR coalesce("
    "p.manager, false) AS manager, p.id AS person_id, p.name AS person_name, "
    "o.id AS org_id, o.name, o.kind::text AS kind, o.district "
    "FROM api_tokens t JOIN orgs o ON o.id = t.org_id "
    "LEFT JOIN people p ON p.id = t.person_id "
    "WHERE {which} AND t.revoked_at IS NULL "
    "AND (t.expires_at IS NULL OR t.expires_at > now()) "
    f"AND (t.person_id IS NULL OR p.deleted_at IS NULL) AND {_ORG_ACTIVE}")


def _token_principal(conn: psycopg.Connection, which: str, value: object
                     ) -> Principal | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_TOKEN_PRINCIPAL.format(which=which), (value,)).fetchone()
        if row is None:
            return None
        last = row["last_used_at"]
        if last is None or last < datetime.now(last.tzinfo) - TOUCH_EVERY:
            cur.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s",
                        (row["token_id"],))
    return _principal(row)


def principal_for_token(conn: psycopg.Connection, *, token: str) -> Principal | None:
    """The caller behind a token, or None (unknown, revoked, expired, of a removed person
    or of an organization whose service ended)."""
    return _token_principal(conn, "t.token_hash = %s", hash_secret(token))


# --- stream tickets --------------------------------------------------------------------
TICKET_LIFETIME = timedelta(seconds=60)


def create_ticket(conn: psycopg.Connection, *, principal: Principal) -> tuple[str, datetime]:
    """A single-use ticket (valid 60 s) standing for the caller's credential: (ticket,
    expires_at)."""
    ticket = secrets.token_urlsafe(32)
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "INSERT INTO stream_tickets (ticket_hash, token_id, session_id, admin, "
            "expires_at) VALUES (%s, %s, %s, %s, now() + %s) RETURNING expires_at",
            (hash_secret(ticket), None if principal.session_id else principal.token_id,
             principal.session_id, principal.is_admin and principal.org_id is None,
             TICKET_LIFETIME)).fetchone()
    assert row is not None
    return ticket, row[0]


def redeem_ticket(conn: psycopg.Connection, *, ticket: str) -> Principal | str | None:
    """The caller a ticket stands for, checked again now (its credential may have died);
    "admin" for the admin token's; None if unknown, used or expired. It is used up."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "UPDATE stream_tickets SET used_at = now() WHERE ticket_hash = %s "
            "AND used_at IS NULL AND expires_at > now() "
            "RETURNING token_id, session_id, admin", (hash_secret(ticket),)).fetchone()
        cur.execute("DELETE FROM stream_tickets WHERE expires_at < now() - interval '1 hour'")
    if row is None:
        return None
    if row["admin"]:
        return "admin"
    if row["session_id"] is not None:
        return _session_principal(conn, "s.id = %s", row["session_id"])
    if row["token_id"] is not None:
        return _token_principal(conn, "t.id = %s", row["token_id"])
    return None
