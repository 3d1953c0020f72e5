"""Telemetry batches as PostgreSQL binary COPY data, built column-wise with numpy.

Writing 100,000+ samples a second from Python leaves no room for per-row work, so a
batch is turned into columns once, rows with the same set of present fields are laid out
as one numpy structured array (every field of PostgreSQL's binary row format has a fixed
width once NULLs are known), and the bytes go to the server in a single COPY.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.codec import Sample, Telemetry, vibration
from core.domain import CAR_MODES, DOOR_STATES, POWER_SOURCES

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)

# Codes as stored; None maps to -1, which becomes NULL.
DOOR_CODE: dict[str | None, int] = {name: i for i, name in enumerate(DOOR_STATES)}
POWER_CODE: dict[str | None, int] = {None: -1} | {n: i for i, n in enumerate(POWER_SOURCES)}
MODE_CODE: dict[str | None, int] = {None: -1} | {n: i for i, n in enumerate(CAR_MODES)}

# (column, numpy big-endian type, nullable) in table order, fault (text) excepted.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("elevator_pk", ">i4", False),
    ("ts", ">i8", False),
    ("seq", ">i8", True),
    ("floor", ">i2", False),
    ("pos_m", ">f4", True),
    ("speed_mps", ">f4", False),
    ("door", ">i2", False),
    ("door_lock", "?", True),
    ("safety_chain", "?", True),
    ("level_mm", ">f4", True),
    ("load_kg", ">f4", True),
    ("occupied", "?", True),
    ("alarm", "?", True),
    ("motor_temp_c", ">f4", True),
    ("power", ">i2", True),
    ("mode", ">i2", True),
    ("vib_rms", ">f4", True),
    ("vib_p2p", ">f4", True),
)
COPY_COLUMNS = ", ".join(name for name, _, _ in COLUMNS)
_CODES = {"door": DOOR_CODE, "power": POWER_CODE, "mode": MODE_CODE}


@dataclass
class Batch:
    """Samples of many messages on their way to one COPY; `add` is cheap, `encode` does the work."""

    pks: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    ts_us: list[int] = field(default_factory=list)

    def add(self, elevator_pk: int, msg: Telemetry) -> None:
        """Queue the samples of one message for elevator_pk."""
        self.pks.append(elevator_pk)
        self.counts.append(len(msg.samples))
        self.samples.extend(msg.samples)
        self.ts_us.extend(msg.ts_us)

    def __len__(self) -> int:
        return len(self.samples)

    def clear(self) -> None:
        """Forget everything (after a commit)."""
        self.pks.clear()
        self.counts.clear()
        self.samples.clear()
        self.ts_us.clear()


@dataclass(frozen=True)
class Encoded:
    """A batch as binary COPY bytes, plus the few rows (with a fault text) sent separately."""

    copy_data: bytes
    rows: int
    fault_rows: list[tuple[object, ...]]
    # The samples again, in batch order, for the rules feed (storage.feed): the fixed
    # fields as FEED_ROW records with each one's elevator, the fault texts and accel
    # windows where any is present.
    feed: np.ndarray
    pks: np.ndarray
    faults: list[str | None] | None
    accels: list[object] | None


# One sample as the rules feed carries it (native order; NaN or -1 where absent): the
# values as received (float64, not the stored float32), without the wire's own ts.
FEED_ROW = np.dtype([
    ("ts", "i8"), ("seq", "i8"), ("floor", "i2"), ("door", "i1"), ("power", "i1"),
    ("mode", "i1"), ("door_lock", "i1"), ("safety_chain", "i1"), ("occupied", "i1"),
    ("alarm", "i1"), ("pos_m", "f8"), ("speed_mps", "f8"), ("level_mm", "f8"),
    ("load_kg", "f8"), ("motor_temp_c", "f8")])
_FEED_FLOATS = ("pos_m", "speed_mps", "level_mm", "load_kg", "motor_temp_c")
_FEED_TRI = ("door_lock", "safety_chain", "occupied", "alarm")


def _feed_rows(cols: dict[str, tuple[np.ndarray, np.ndarray | None]], ts_us: np.ndarray,
               wide: dict[str, np.ndarray]) -> np.ndarray:
    """The FEED_ROW records of a batch from its COPY columns (floats as received)."""
    out = np.empty(len(ts_us), dtype=FEED_ROW)
    out["ts"] = ts_us
    for name in ("seq", "door", "power", "mode", *_FEED_TRI):
        arr, mask = cols[name]
        out[name] = arr
        if mask is not None:
            out[name][mask] = -1
    out["floor"] = cols["floor"][0]
    for name in _FEED_FLOATS:
        out[name] = wide[name]
    return out


def _column(values: Sequence[object], codes: dict[str | None, int] | None, dtype: str
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """(values as dtype, mask of NULLs or None when there are none); C-level loops only."""
    if codes is not None:
        arr = np.asarray(list(map(codes.__getitem__, values)), dtype=np.int16)  # type: ignore[arg-type]
        mask = arr < 0
        return arr, (mask if mask.any() else None)
    if None in values:
        obj = np.asarray(values, dtype=object)
        mask = np.equal(obj, None)  # type: ignore[call-overload]
        obj[mask] = 0
        return obj.astype(dtype), mask
    return np.asarray(values, dtype=dtype), None


def _fields(samples: list[Sample]) -> dict[str, list[Any]]:
    """The stored fields of the samples, one list per field (attribute access in a list
    comprehension is the cheapest way out of a struct: a third of astuple and zip)."""
    return {
        "seq": [s.seq for s in samples], "floor": [s.floor for s in samples],
        "pos_m": [s.pos_m for s in samples], "speed_mps": [s.speed_mps for s in samples],
        "door": [s.door for s in samples], "door_lock": [s.door_lock for s in samples],
        "safety_chain": [s.safety_chain for s in samples],
        "level_mm": [s.level_mm for s in samples], "load_kg": [s.load_kg for s in samples],
        "occupied": [s.occupied for s in samples], "alarm": [s.alarm for s in samples],
        "motor_temp_c": [s.motor_temp_c for s in samples],
        "power": [s.power for s in samples], "mode": [s.mode for s in samples],
        "fault": [s.fault for s in samples], "accel": [s.accel for s in samples],
    }


def encode(batch: Batch) -> Encoded:
    """Lay the batch out as PostgreSQL binary COPY rows (see the module docstring)."""
    n = len(batch.samples)
    cols: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    cols["elevator_pk"] = (np.repeat(np.asarray(batch.pks, dtype=np.int32),
                                     batch.counts), None)
    ts_us = np.asarray(batch.ts_us, dtype=np.int64)
    cols["ts"] = (ts_us - PG_EPOCH_US, None)
    by_field = _fields(batch.samples)
    wide: dict[str, np.ndarray] = {}  # the float fields as received, for the feed too
    for name, dtype, _ in COLUMNS:
        if name in _FEED_FLOATS:
            wide[name] = values = np.asarray(by_field[name], dtype=np.float64)  # None: NaN
            absent = np.isnan(values)
            if absent.any():
                cols[name] = (np.where(absent, 0.0, values).astype(dtype), absent)
            else:
                cols[name] = (values.astype(dtype), None)
        elif name in by_field:  # ts comes from ts_us, not the wire value
            cols[name] = _column(by_field[name], _CODES.get(name), dtype)
    accel = by_field["accel"]
    if accel.count(None) != n:
        vib = [None if a is None else vibration(a) for a in accel]  # type: ignore[arg-type]
        cols["vib_rms"] = _column([None if v is None else v[0] for v in vib], None, ">f4")
        cols["vib_p2p"] = _column([None if v is None else v[1] for v in vib], None, ">f4")
    else:
        absent = np.ones(n, dtype=bool)
        cols["vib_rms"] = (np.zeros(n, dtype=">f4"), absent)
        cols["vib_p2p"] = (np.zeros(n, dtype=">f4"), absent)

    # Rows with a controller fault text carry a variable-width field: send them apart.
    faults = by_field["fault"]
    fault_rows: list[tuple[object, ...]] = []
    keep = None
    if faults.count(None) + faults.count("") != n:
        has_fault = np.fromiter(map(bool, faults), dtype=bool, count=n)
        keep = ~has_fault
        for i in np.flatnonzero(has_fault):
            fault_rows.append(_row(cols, int(i), str(faults[i])))

    pattern = np.zeros(n, dtype=np.uint32)
    nullable = [name for name, _, null in COLUMNS if null]
    for bit, name in enumerate(nullable):
        mask = cols[name][1]
        if mask is not None:
            pattern |= mask.astype(np.uint32) << bit
    order = np.lexsort((cols["ts"][0], cols["elevator_pk"][0]))
    if keep is not None:
        order = order[keep[order]]
    pattern = pattern[order]
    chunks = [COPY_HEADER]
    for p in np.unique(pattern):
        rows = order[pattern == p]
        null = {name for bit, name in enumerate(nullable) if int(p) >> bit & 1}
        chunks.append(_pack(cols, rows, null))
    chunks.append(COPY_TRAILER)
    return Encoded(b"".join(chunks), len(order), fault_rows,
                   feed=_feed_rows(cols, ts_us, wide),
                   pks=cols["elevator_pk"][0], faults=None if keep is None else faults,
                   accels=None if accel.count(None) == n else accel)


@functools.cache
def _row_template(null: frozenset[str]) -> np.ndarray:
    """One binary COPY row with these NULL fields (the fault text always NULL) as a numpy
    record, every length word filled in; the values are written over copies of it."""
    spec: list[tuple[str, str]] = [("nfields", ">i2")]
    for name, dtype, _ in COLUMNS:
        spec.append((f"{name}_len", ">i4"))
        if name not in null:
            spec.append((name, dtype))
    spec.append(("fault_len", ">i4"))
    layout = np.dtype(spec)
    template = np.zeros(1, dtype=layout)
    template["nfields"] = len(COLUMNS) + 1  # + fault
    for name, dtype, _ in COLUMNS:
        template[f"{name}_len"] = -1 if name in null else np.dtype(dtype).itemsize
    template["fault_len"] = -1
    return template


def _pack(cols: dict[str, tuple[np.ndarray, np.ndarray | None]], rows: np.ndarray,
          null: set[str]) -> bytes:
    """Binary COPY rows for the given row indices, all with the same NULL fields."""
    out = np.repeat(_row_template(frozenset(null)), len(rows))
    for name, _, _ in COLUMNS:
        if name not in null:
            out[name] = cols[name][0][rows]
    return out.tobytes()


def _row(cols: dict[str, tuple[np.ndarray, np.ndarray | None]], i: int, fault: str
         ) -> tuple[object, ...]:
    """One row as Python values (for the rows with a fault text)."""
    values: list[object] = []
    for name, _, _ in COLUMNS:
        arr, mask = cols[name]
        values.append(None if mask is not None and mask[i] else arr[i].item())
    values.append(fault)
    return tuple(values)
