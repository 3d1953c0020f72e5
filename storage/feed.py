"""The rules feed: what the ingesters committed, for the rules process that owns each
partition of elevators (CONTRACT section 10).

The ingester appends one row per batch, in the transaction that stores the telemetry,
with only the samples that were new to the store (the unique index decided that in the
same transaction): a sample is in the feed exactly once, and only if it is stored. Rows
are numbered without gaps and in commit order (the head row is locked from the increment
to the commit). A row's body holds each partition's part at its own offset, stored
uncompressed out of line, so a rules process reads after the cursors of the partitions
it owns (``rules_partitions.cursor``, advanced in the transaction that writes the alerts
the rows caused) only the slices of those partitions, and decodes nothing else.

A part is msgpack: each sample as an array of its fields in :class:`Sample` order (a
:class:`FeedSample`), not a map that repeats every field's name: 94 bytes a sample of the
usual message instead of 219, which PostgreSQL writes twice (the row and the WAL). Parts
written before that (maps) are still read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import msgspec
import psycopg
from psycopg.rows import tuple_row

from core.codec import Sample, Telemetry
from core.partitions import partition_of
from core.stream import Committed

FEED_CHANNEL = "whistle_feed"

Message = tuple[str, int, Telemetry]
State = tuple[str, int, str, int]


class FeedSample(Sample, array_like=True, gc=False):
    """A :class:`Sample` as the feed carries it: its fields as an array, in order."""


class _Message(msgspec.Struct, array_like=True, gc=False):
    elevator_id: str
    elevator_pk: int
    samples: list[FeedSample]
    ts_us: list[int]


class _Body(msgspec.Struct, array_like=True, gc=False):
    messages: list[_Message]
    states: list[State]


class _MapBody(msgspec.Struct, array_like=True, gc=False):  # parts written before 2026-12-03
    messages: list[Message]
    states: list[State]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Body)
_map_decoder = msgspec.msgpack.Decoder(_MapBody)
_astuple = msgspec.structs.astuple


def split(committed: Committed) -> dict[int, bytes]:
    """A committed batch as feed bodies, by partition."""
    parts: dict[int, tuple[list[object], list[State]]] = {}
    for eid, pk, tel in committed.messages:
        parts.setdefault(partition_of(pk), ([], []))[0].append(
            (eid, pk, [_astuple(s) for s in tel.samples], tel.ts_us))
    for s in committed.states:
        parts.setdefault(partition_of(s[1]), ([], []))[1].append(s)
    return {p: _encoder.encode(body) for p, body in sorted(parts.items())}


def decode(bodies: Iterable[bytes]) -> Committed:
    """Feed bodies as one committed batch (in feed order)."""
    messages: list[Message] = []
    states: list[State] = []
    for data in bodies:
        try:
            body = _decoder.decode(data)
        except msgspec.ValidationError:
            old = _map_decoder.decode(data)
            messages.extend(old.messages)
            states.extend(old.states)
            continue
        messages.extend((m.elevator_id, m.elevator_pk, Telemetry(m.samples, m.ts_us))  # type: ignore[arg-type]
                        for m in body.messages)
        states.extend(body.states)
    return Committed(messages, states)


def append(conn: psycopg.Connection, committed: Committed) -> int:
    """Append a committed batch (inside the caller's transaction); partitions written.

    One statement: the head's increment, the row and the notification."""
    bodies = split(committed)
    if not bodies:
        return 0
    lens = [len(b) for b in bodies.values()]
    offs = list(itertools.accumulate(lens, initial=0))[:-1]
    conn.execute(
        "WITH h AS (INSERT INTO rules_feed_head AS h VALUES (true, 1) "
        "  ON CONFLICT (one) DO UPDATE SET head = h.head + 1 RETURNING head), "
        "n AS (SELECT pg_notify(%s, '')) "
        "INSERT INTO rules_feed (seq, parts, offs, lens, body) "
        "SELECT h.head, %s::text::int2[], %s::text::int4[], %s::text::int4[], %s FROM h, n",
        (FEED_CHANNEL, _array(bodies), _array(offs), _array(lens), b"".join(bodies.values())),
        binary=True)
    return len(bodies)


def _array(values: Iterable[int]) -> str:
    """An integer array literal (psycopg would dump a list element by element)."""
    return "{" + ",".join(map(str, values)) + "}"


def read(conn: psycopg.Connection, cursors: dict[int, int], *, limit: int
         ) -> tuple[list[tuple[int, int, bytes]], int | None]:
    """The next rows (at most ``limit``) after the lowest of the cursors: (partition, seq,
    body) of each partition's part newer than its cursor, oldest first, and the last seq
    read (every partition has seen the feed up to it); None: nothing new."""
    if not cursors:
        return [], None
    parts = sorted(cursors)
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT f.seq, x.p, x.body "
            "FROM (SELECT seq FROM rules_feed WHERE seq > %(lo)s ORDER BY seq LIMIT %(n)s) s "
            "JOIN rules_feed f ON f.seq = s.seq "
            "LEFT JOIN LATERAL ("
            "  SELECT u.p, substring(f.body FROM u.o + 1 FOR u.l) AS body "
            "    FROM unnest(f.parts, f.offs, f.lens) AS u(p, o, l) "
            "    JOIN unnest(%(ps)s::int2[], %(cs)s::int8[]) AS c(p, s) "
            "      ON c.p = u.p AND f.seq > c.s) x ON true "
            "ORDER BY f.seq, x.p",
            {"lo": min(cursors.values()), "n": limit, "ps": parts,
             "cs": [cursors[p] for p in parts]}, binary=True).fetchall()
    if not rows:
        return [], None
    return ([(int(r[1]), int(r[0]), bytes(r[2])) for r in rows if r[1] is not None],
            int(rows[-1][0]))


def trim(conn: psycopg.Connection) -> int:
    """Delete the rows every partition's cursor has passed; how many."""
    cur = conn.execute(
        "DELETE FROM rules_feed WHERE seq <= (SELECT min(cursor) FROM rules_partitions)")
    return cur.rowcount


def behind(conn: psycopg.Connection, partitions: list[int] | None = None) -> int:
    """How many partitions (of these, or of all) have a cursor short of the head: 0 when
    every row written so far has been read by its owners."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT count(*) FROM rules_partitions p, rules_feed_head h "
            "WHERE p.cursor < h.head AND (%(ps)s::int2[] IS NULL OR p.partition = ANY(%(ps)s))",
            {"ps": partitions}).fetchone()
    return int(row[0]) if row else 0


def clear(conn: psycopg.Connection) -> None:
    """Empty the feed and number from 1 again (benchmarks; with the cursors reset too)."""
    conn.execute("TRUNCATE rules_feed")
    conn.execute("UPDATE rules_feed_head SET head = 0")

