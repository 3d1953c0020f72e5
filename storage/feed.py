"""The rules feed: what the ingesters committed, per partition of elevators, for the rules
process that owns each partition (CONTRACT section 10).

The ingester appends one row per partition touched by a batch, in the transaction that
stores the telemetry, with only the samples that were new to the store (the unique index
decided that in the same transaction): a sample is in the feed exactly once, and only if
it is stored. Rows are numbered per partition without gaps and in commit order: the
partition's head row is locked from the increment to the commit. A rules process reads the
partitions it owns after their cursor (``rules_partitions.cursor``, advanced in the
transaction that writes the alerts the rows caused) and decodes nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import psycopg
from psycopg.rows import tuple_row

from core.codec import Telemetry
from core.partitions import partition_of
from core.stream import Committed

FEED_CHANNEL = "whistle_feed"

Message = tuple[str, int, Telemetry]
State = tuple[str, int, str, int]


class _Body(msgspec.Struct, array_like=True, gc=False):
    messages: list[Message]
    states: list[State]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Body)


def split(committed: Committed) -> dict[int, bytes]:
    """A committed batch as feed bodies, by partition."""
    parts: dict[int, _Body] = {}
    for m in committed.messages:
        parts.setdefault(partition_of(m[1]), _Body([], [])).messages.append(m)
    for s in committed.states:
        parts.setdefault(partition_of(s[1]), _Body([], [])).states.append(s)
    return {p: _encoder.encode(body) for p, body in sorted(parts.items())}


def decode(bodies: Iterable[bytes]) -> Committed:
    """Feed bodies as one committed batch (in feed order)."""
    messages: list[Message] = []
    states: list[State] = []
    for data in bodies:
        body = _decoder.decode(data)
        messages.extend(body.messages)
        states.extend(body.states)
    return Committed(messages, states)


def append(conn: psycopg.Connection, committed: Committed) -> int:
    """Append a committed batch (inside the caller's transaction); rows written."""
    bodies = split(committed)
    if not bodies:
        return 0
    parts = list(bodies)  # sorted: one lock order for every ingester
    with conn.cursor(row_factory=tuple_row) as cur:
        heads = cur.execute(
            "INSERT INTO rules_feed_heads AS h (partition, head) "
            "SELECT p, 1 FROM unnest(%s::int2[]) WITH ORDINALITY AS u(p, o) ORDER BY o "
            "ON CONFLICT (partition) DO UPDATE SET head = h.head + 1 "
            "RETURNING h.partition, h.head", (parts,)).fetchall()
        # the bodies by binary COPY: no per-byte escaping on either side
        with cur.copy("COPY rules_feed (partition, seq, body) FROM STDIN (FORMAT BINARY)"
                      ) as copy:
            copy.set_types(["int2", "int8", "bytea"])
            for partition, head in heads:
                copy.write_row((partition, head, bodies[int(partition)]))
        cur.execute("SELECT pg_notify(%s, '')", (FEED_CHANNEL,))
    return len(parts)


def read(conn: psycopg.Connection, cursors: dict[int, int], *, limit: int
         ) -> list[tuple[int, int, bytes]]:
    """(partition, seq, body) after each partition's cursor, oldest first per partition."""
    if not cursors:
        return []
    parts = sorted(cursors)
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT f.partition, f.seq, f.body "
            "FROM unnest(%s::int2[], %s::int8[]) AS c(p, s) "
            "CROSS JOIN LATERAL (SELECT partition, seq, body FROM rules_feed "
            "  WHERE partition = c.p AND seq > c.s ORDER BY seq LIMIT %s) f",
            (parts, [cursors[p] for p in parts], limit)).fetchall()
    return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]


def trim(conn: psycopg.Connection, partitions: list[int]) -> int:
    """Delete the rows of these partitions that their cursor has passed; how many."""
    if not partitions:
        return 0
    cur = conn.execute(
        "DELETE FROM rules_feed f USING rules_partitions p "
        "WHERE p.partition = ANY(%s) AND f.partition = p.partition AND f.seq <= p.cursor",
        (partitions,))
    return cur.rowcount
