"""Leases of partitions of elevators, held by `whistle rules` processes (CONTRACT
section 10). Every time is PostgreSQL's clock, so the processes' clocks do not matter.

A lease is a row of ``rules_partitions``: its owner, an epoch that grows at every change
of owner, and when it expires. Members (``rules_members``) say which processes are alive,
so each takes its fair share. Row locks are always taken in partition order.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

Epochs = dict[int, int]  # partition -> epoch of the lease held


def ensure(conn: psycopg.Connection, partitions: int) -> None:
    """Create the partition rows that do not exist yet."""
    conn.execute("INSERT INTO rules_partitions (partition) "
                 "SELECT generate_series(0, %s - 1) ON CONFLICT DO NOTHING", (partitions,))


def heartbeat(conn: psycopg.Connection, owner: str, ttl_s: float) -> int:
    """Say this process is alive for ttl_s more; how many processes are alive."""
    conn.execute(
        "INSERT INTO rules_members (owner, expires_at) "
        "VALUES (%(o)s, now() + make_interval(secs => %(ttl)s)) "
        "ON CONFLICT (owner) DO UPDATE SET expires_at = EXCLUDED.expires_at",
        {"o": owner, "ttl": ttl_s})
    conn.execute("DELETE FROM rules_members WHERE expires_at < now() - interval '1 hour'")
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT count(*) FROM rules_members WHERE expires_at > now()"
                          ).fetchone()
    return int(row[0]) if row else 1


def leave(conn: psycopg.Connection, owner: str) -> None:
    """This process stops: its member row goes."""
    conn.execute("DELETE FROM rules_members WHERE owner = %s", (owner,))


def renew(conn: psycopg.Connection, owner: str, held: Epochs, ttl_s: float) -> set[int]:
    """Extend the leases still held (same owner and epoch); the partitions renewed."""
    if not held:
        return set()
    parts = sorted(held)
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT partition FROM rules_partitions WHERE partition = ANY(%s) "
            "ORDER BY partition FOR UPDATE", (parts,))
        rows = cur.execute(
            "UPDATE rules_partitions r SET expires_at = now() + make_interval(secs => %s) "
            "FROM unnest(%s::int2[], %s::int8[]) AS h(p, e) "
            "WHERE r.partition = h.p AND r.epoch = h.e AND r.owner = %s "
            "RETURNING r.partition",
            (ttl_s, parts, [held[p] for p in parts], owner)).fetchall()
    return {int(r[0]) for r in rows}


def acquire(conn: psycopg.Connection, owner: str, want: int, ttl_s: float
            ) -> dict[int, tuple[int, int]]:
    """Take up to ``want`` partitions that are free or expired: {partition: (epoch, cursor)}."""
    if want <= 0:
        return {}
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "UPDATE rules_partitions r SET owner = %(o)s, epoch = r.epoch + 1, "
            "  expires_at = now() + make_interval(secs => %(ttl)s) "
            "WHERE r.partition IN (SELECT partition FROM rules_partitions "
            "  WHERE owner IS NULL OR expires_at IS NULL OR expires_at < now() "
            "  ORDER BY partition LIMIT %(n)s FOR UPDATE SKIP LOCKED) "
            "RETURNING r.partition, r.epoch, r.cursor",
            {"o": owner, "ttl": ttl_s, "n": want}).fetchall()
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


def release(conn: psycopg.Connection, owner: str, held: Epochs) -> set[int]:
    """Give partitions up (for another process to take at once); those released."""
    if not held:
        return set()
    parts = sorted(held)
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "UPDATE rules_partitions r SET owner = NULL, expires_at = NULL "
            "FROM unnest(%s::int2[], %s::int8[]) AS h(p, e) "
            "WHERE r.partition = h.p AND r.epoch = h.e AND r.owner = %s "
            "RETURNING r.partition", (parts, [held[p] for p in parts], owner)).fetchall()
    return {int(r[0]) for r in rows}


def fence(conn: psycopg.Connection, owner: str, held: Epochs) -> set[int]:
    """In a write transaction: the partitions this process still holds, share-locked until
    the transaction ends, so no other process can take them before it commits."""
    if not held:
        return set()
    parts = sorted(held)
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT r.partition FROM rules_partitions r "
            "JOIN unnest(%s::int2[], %s::int8[]) AS h(p, e) ON r.partition = h.p "
            "WHERE r.epoch = h.e AND r.owner = %s ORDER BY r.partition FOR SHARE OF r",
            (parts, [held[p] for p in parts], owner)).fetchall()
    return {int(r[0]) for r in rows}


def advance(conn: psycopg.Connection, owner: str, cursors: dict[int, int]) -> None:
    """Move feed cursors forward (after :func:`fence`, in the same transaction)."""
    if not cursors:
        return
    parts = sorted(cursors)
    conn.execute(
        "UPDATE rules_partitions r SET cursor = greatest(r.cursor, c.s) "
        "FROM unnest(%s::int2[], %s::int8[]) AS c(p, s) "
        "WHERE r.partition = c.p AND r.owner = %s",
        (parts, [cursors[p] for p in parts], owner))


def owners(conn: psycopg.Connection) -> dict[int, str | None]:
    """Who holds each partition (for operators and tests)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return {int(r[0]): r[1] for r in cur.execute(
            "SELECT partition, CASE WHEN expires_at > now() THEN owner END "
            "FROM rules_partitions ORDER BY partition").fetchall()}
