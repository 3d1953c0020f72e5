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

A part is msgpack. When every sample of the batch was new (the usual case) it carries the
samples as columns: the fixed fields as one record per sample (``copybuf.FEED_ROW``,
65 bytes, laid out by the COPY encoder already, so the ingester builds a part with a few
numpy slices and no Python work per sample), the fault texts and accel windows where
there are any, and each message's elevator and sample count. Otherwise (duplicates were
left out) each sample is an array of its fields in :class:`Sample` order (a
:class:`FeedSample`: 94 bytes a usual sample). Parts with samples as maps (219 bytes,
before 2026-12-03) are still read. The three decode to the same messages; the wire's own
``ts`` of a sample is not carried in columns (``ts_us`` is, which is what the rules use).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import msgspec
import numpy as np
import psycopg
from psycopg.rows import tuple_row

from core.codec import Accel, Sample, Telemetry
from core.domain import CAR_MODES, DOOR_STATES, POWER_SOURCES
from core.partitions import PARTITIONS, partition_of
from core.stream import Committed
from storage.copybuf import FEED_ROW, Encoded

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


class _ColumnBody(msgspec.Struct, array_like=True, gc=False, tag="c"):
    elevator_ids: list[str]  # per message
    elevator_pks: list[int]
    counts: list[int]
    records: bytes  # FEED_ROW per sample, messages one after the other
    faults: list[str | None] | None  # per sample, or None: no fault text in the part
    accels: list[Accel | None] | None
    states: list[State]


_encoder = msgspec.msgpack.Encoder()
_column_decoder = msgspec.msgpack.Decoder(_ColumnBody)
_decoder = msgspec.msgpack.Decoder(_Body)
_map_decoder = msgspec.msgpack.Decoder(_MapBody)
_astuple = msgspec.structs.astuple
_DOORS: list[str] = list(DOOR_STATES)
_POWER: dict[int, str | None] = {-1: None} | dict(enumerate(POWER_SOURCES))
_MODE: dict[int, str | None] = {-1: None} | dict(enumerate(CAR_MODES))
_TRI: dict[int, bool | None] = {-1: None, 0: False, 1: True}


def split(committed: Committed, encoded: Encoded | None = None) -> dict[int, bytes]:
    """A committed batch as feed bodies, by partition. ``encoded``: the batch's COPY
    layout, given when every sample of it was new (committed.messages are the batch's
    messages in order), so the parts carry columns."""
    if encoded is not None:
        return _split_columns(committed, encoded)
    parts: dict[int, tuple[list[object], list[State]]] = {}
    for eid, pk, tel in committed.messages:
        parts.setdefault(partition_of(pk), ([], []))[0].append(
            (eid, pk, [_astuple(s) for s in tel.samples], tel.ts_us))
    for s in committed.states:
        parts.setdefault(partition_of(s[1]), ([], []))[1].append(s)
    return {p: _encoder.encode(body) for p, body in sorted(parts.items())}


def _split_columns(committed: Committed, enc: Encoded) -> dict[int, bytes]:
    part = enc.pks.astype(np.int32) % PARTITIONS
    order = np.argsort(part, kind="stable")  # by partition, in batch order within one
    records = enc.feed[order]
    first = np.searchsorted(part[order], np.arange(PARTITIONS + 1))
    picked = order.tolist() if enc.faults is not None or enc.accels is not None else []
    heads: dict[int, tuple[list[str], list[int], list[int]]] = {}
    for eid, pk, tel in committed.messages:
        ids, pks, counts = heads.setdefault(partition_of(pk), ([], [], []))
        ids.append(eid)
        pks.append(pk)
        counts.append(len(tel.ts_us))
    states: dict[int, list[State]] = {}
    for st in committed.states:
        states.setdefault(partition_of(st[1]), []).append(st)
    out: dict[int, bytes] = {}
    for p in sorted(heads.keys() | states.keys()):
        lo, hi = int(first[p]), int(first[p + 1])
        ids, pks, counts = heads.get(p, ([], [], []))
        faults = accels = None
        if enc.faults is not None:
            faults = [enc.faults[i] for i in picked[lo:hi]]
        if enc.accels is not None:
            accels = [enc.accels[i] for i in picked[lo:hi]]
        out[p] = _encoder.encode(_ColumnBody(ids, pks, counts, records[lo:hi].tobytes(),
                                             faults, accels, states.get(p, [])))  # type: ignore[arg-type]
    return out


def _column_messages(bodies: list[_ColumnBody]) -> list[Message]:
    """The messages of parts with columns, their samples as FeedSamples (the parts'
    columns converted at once: a part of a small batch holds a few samples)."""
    recs = np.concatenate([np.frombuffer(b.records, dtype=FEED_ROW) for b in bodies])
    n = len(recs)
    ts_us: list[int] = recs["ts"].tolist()

    def floats(name: str) -> list[float | None]:
        col = recs[name]
        if not np.isnan(col).any():
            return col.tolist()  # type: ignore[no-any-return]
        return [None if x != x else x for x in col.tolist()]  # NaN: absent

    def tri(name: str) -> list[bool | None]:
        col = recs[name]
        if col.min(initial=0) >= 0:
            return col.astype(bool).tolist()  # type: ignore[no-any-return]
        return list(map(_TRI.__getitem__, col.tolist()))

    def sparse(values: list[list[Any] | None], counts: list[int]) -> list[Any]:
        if all(v is None for v in values):
            return [None] * n
        return [x for v, k in zip(values, counts, strict=True) for x in (v or [None] * k)]

    sizes = [len(b.records) // FEED_ROW.itemsize for b in bodies]
    seq = recs["seq"]
    rows = list(zip(
        (recs["ts"] // 1000).tolist(), recs["floor"].tolist(), floats("speed_mps"),
        list(map(_DOORS.__getitem__, recs["door"].tolist())),
        seq.tolist() if seq.min(initial=0) >= 0 else [None if x < 0 else x for x in seq.tolist()],
        floats("pos_m"), tri("door_lock"), tri("safety_chain"), floats("level_mm"),
        floats("load_kg"), tri("occupied"), tri("alarm"), floats("motor_temp_c"),
        list(map(_POWER.__getitem__, recs["power"].tolist())),
        list(map(_MODE.__getitem__, recs["mode"].tolist())),
        sparse([b.faults for b in bodies], sizes), sparse([b.accels for b in bodies], sizes),
        strict=True))
    samples = msgspec.convert(rows, list[FeedSample])
    out: list[Message] = []
    at = 0
    for b in bodies:
        for eid, pk, k in zip(b.elevator_ids, b.elevator_pks, b.counts, strict=True):
            out.append((eid, pk, Telemetry(samples[at:at + k], ts_us[at:at + k])))  # type: ignore[arg-type]
            at += k
    return out


def decode(bodies: Iterable[bytes]) -> Committed:
    """Feed bodies as one committed batch (in feed order)."""
    messages: list[Message] = []
    states: list[State] = []
    columns: list[_ColumnBody] = []  # consecutive parts with columns, converted at once
    for data in bodies:
        try:
            part = _column_decoder.decode(data)
        except msgspec.ValidationError:
            pass
        else:
            columns.append(part)
            states.extend(part.states)
            continue
        if columns:
            messages.extend(_column_messages(columns))
            columns = []
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
    if columns:
        messages.extend(_column_messages(columns))
    return Committed(messages, states)


def append(conn: psycopg.Connection, committed: Committed,
           encoded: Encoded | None = None) -> int:
    """Append a committed batch (inside the caller's transaction); partitions written.
    ``encoded`` as for :func:`split`.

    One statement: the head's increment, the row and the notification."""
    bodies = split(committed, encoded)
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

