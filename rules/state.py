"""Per-elevator rule state: numpy columns for the hot path, a small struct for rare events.

The engine keeps one row per elevator ("slot") in a few 2-D arrays, so a round of samples
from many elevators updates every timer with a handful of numpy operations. What only
changes on rare events (door reversals, stop levels, run vibration history, the details of
open alerts) lives in a :class:`Memory` struct per elevator. :func:`encode` and
:func:`decode` turn one elevator's row and memory into a self-describing msgpack blob, so a
restart (or a schema change that adds columns) resumes where the old process stopped.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from core.domain import AlertKind

BLOB_VERSION = 1
NAN = float("nan")

# The kinds the engine raises from telemetry (calendar kinds are the lifecycle's), plus the
# extension kind for door closing time drift.
DOOR_CLOSING_SLOW = "door_closing_slow"
CALENDAR_KINDS = (AlertKind.INSPECTION_OVERDUE.value, AlertKind.MAINTENANCE_OVERDUE.value)
KINDS: tuple[str, ...] = (
    *(k.value for k in AlertKind if k.value not in CALENDAR_KINDS), DOOR_CLOSING_SLOW)
KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}

MODE_CODES = {"normal": 0, "inspection": 1, "maintenance": 2, "fire": 3, "out_of_service": 4}
DOOR_CODES = {"closed": 0, "opening": 1, "open": 2, "closing": 3}
POWER_CODES = {"mains": 0, "backup": 1, "none": 2}
CLOSED, OPENING, OPEN, CLOSING = 0, 1, 2, 3
MAINS = 0
N_MODES = len(MODE_CODES)

LEVEL_BUFFER = 64  # level_mm samples kept per stop; the median of a longer stop uses these
PEAKS = 64  # peak-to-peak values of a run's windows kept for its A95
FILTER_SECTIONS = 2  # second-order sections of the 4th-order Butterworth high-pass

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class Col(IntEnum):
    """Float state columns (times are epoch microseconds; NaN means never/unknown)."""

    LAST_TS = 0  # newest processed sample
    LAST_RX = 1  # service clock of the last message of any kind
    GAP_BONUS = 2  # extra gap allowed before the next sample (set by restore)
    MODE = 3  # carried forward: a device may omit unchanged optional fields
    LOCK = 4
    CHAIN = 5
    POWER = 6
    OCCUPIED = 7
    ALARM = 8
    TEMP = 9
    PREV_DOOR = 10
    PREV_MOVING = 11
    DOOR_CLOSING_SINCE = 12
    STOP_STATE = 13  # 0 none, 1 arrived, 2 doors opened (a stop), 3 done until next run
    STOP_T0 = 14
    STOP_N = 15
    STOP_POS = 16
    RUN_ACTIVE = 17
    RUN_T0 = 18
    RUN_N = 19  # accel values seen in this run
    RUN_SUMSQ = 20
    RUN_MIN = 21
    RUN_MAX = 22
    RUN_JERK = 23
    RUN_LAST_A = 24  # last smoothed acceleration, for jerk across windows
    RUN_VMAX = 25
    RUN_HZ = 26
    STATE_TS = 27  # ts of the newest state message applied
    SEALED = 28  # from the registry (ElevatorInfo.sealed), not from telemetry
    HAS_FAULT = 29  # the last sample carried a controller fault code
    RUN_WINDOWS = 30  # accel windows seen in this run
    MODE_TS = 31  # ts of the last sample that carried `mode` (a carried mode expires)


N_COLS = len(Col)
COL_INIT = np.full(N_COLS, NAN)
for _col, _value in ((Col.GAP_BONUS, 0.0), (Col.MODE, 0.0), (Col.LOCK, 1.0),
                     (Col.CHAIN, 1.0), (Col.POWER, 0.0), (Col.OCCUPIED, 0.0),
                     (Col.ALARM, 0.0), (Col.PREV_MOVING, 0.0),
                     (Col.STOP_STATE, 0.0), (Col.STOP_N, 0.0), (Col.RUN_ACTIVE, 0.0),
                     (Col.SEALED, 0.0), (Col.HAS_FAULT, 0.0), (Col.RUN_WINDOWS, 0.0)):
    COL_INIT[_col] = _value


class KindCol(IntEnum):
    """Per-kind alert columns: timers and bookkeeping of what the engine has raised."""

    RSINCE = 0  # raise condition holding since
    CSINCE = 1  # clear condition holding since
    RAISED_AT = 2
    LAST_UPDATE = 3
    METRIC = 4  # value last reported (for "material" updates)
    LAST_CLEAR = 5  # a late sample older than this cannot raise again
    HOLDOFF = 6  # no raise before this (after a manual resolve)


N_KIND_COLS = len(KindCol)
KIND_COL_INIT = np.full((N_KIND_COLS, len(KINDS)), NAN)
KIND_COL_INIT[KindCol.HOLDOFF] = -np.inf
KIND_COL_INIT[KindCol.LAST_CLEAR] = -np.inf


class Memory(msgspec.Struct, kw_only=True):
    """What changes only on rare events: door cycles, stops, runs, open alert details."""

    reversals: list[float] = msgspec.field(default_factory=list)
    door_in_cycle: bool = False
    door_reversed: bool = False
    door_closing_started: float = NAN
    door_normal_cycles: int = 0
    close_recent: list[float] = msgspec.field(default_factory=list)
    close_base: list[float] = msgspec.field(default_factory=list)
    stop_levels: list[float] = msgspec.field(default_factory=list)
    stop_good: int = 0
    vib_normal: list[float] = msgspec.field(default_factory=list)
    vib_bad: int = 0
    vib_good: int = 0
    vib_recent: list[dict[str, Any]] = msgspec.field(default_factory=list)
    details: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    fault_code: str | None = None


class Blob(msgspec.Struct, kw_only=True):
    """One elevator's persisted state; columns by name so the layout may evolve."""

    v: int = BLOB_VERSION
    pk: int
    f: dict[str, float]
    alerts: dict[str, dict[str, float]]
    open: list[str]
    memory: Memory
    levels: list[float]
    hp_zi: list[float]
    peaks: list[float]


def _numpy_scalars(obj: Any) -> Any:
    """Numpy scalars that reach alert details (late samples) are stored as Python numbers."""
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot persist {type(obj).__name__}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_numpy_scalars)
_decoder = msgspec.msgpack.Decoder(Blob)


class Table:
    """The state arrays of every slot; grows by doubling."""

    def __init__(self, capacity: int = 16) -> None:
        self.f = np.tile(COL_INIT, (capacity, 1))
        self.a = np.tile(KIND_COL_INIT, (capacity, 1, 1))
        self.open = np.zeros((capacity, len(KINDS)), dtype=bool)
        self.levels = np.full((capacity, LEVEL_BUFFER), NAN)
        # (sections, slots, 2): the layout sosfilt wants for a (slots, samples) matrix
        self.hp_zi = np.zeros((FILTER_SECTIONS, capacity, 2))
        self.peaks = np.full((capacity, PEAKS), NAN)

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return int(self.f.shape[0])

    def ensure(self, n: int) -> None:
        """Make room for n slots."""
        cap = self.capacity
        if n <= cap:
            return
        new = max(n, 2 * cap)
        extra = new - cap
        self.f = np.concatenate([self.f, np.tile(COL_INIT, (extra, 1))])
        self.a = np.concatenate([self.a, np.tile(KIND_COL_INIT, (extra, 1, 1))])
        self.open = np.concatenate([self.open, np.zeros((extra, len(KINDS)), dtype=bool)])
        self.levels = np.concatenate([self.levels, np.full((extra, LEVEL_BUFFER), NAN)])
        self.hp_zi = np.concatenate([self.hp_zi, np.zeros((FILTER_SECTIONS, extra, 2))], axis=1)
        self.peaks = np.concatenate([self.peaks, np.full((extra, PEAKS), NAN)])

    def reset(self, slot: int) -> None:
        """Forget everything about a slot."""
        self.f[slot] = COL_INIT
        self.a[slot] = KIND_COL_INIT
        self.open[slot] = False
        self.levels[slot] = NAN
        self.hp_zi[:, slot] = 0.0
        self.peaks[slot] = NAN


F_NAMES = [col.name for col in Col]
A_NAMES = [col.name for col in KindCol]


def encode(table: Table, slot: int, pk: int, memory: Memory, horizon_us: float) -> bytes:
    """The blob of one slot: only what can still matter (see the comments)."""
    f = table.f[slot].tolist()
    a = table.a[slot]
    opened = table.open[slot]
    last = f[Col.LAST_TS]
    # a kind matters if open, if its raise condition holds, while a hold-off runs, or
    # while a late sample could still be older than its last clear
    keep = (opened | ~np.isnan(a[KindCol.RSINCE]) | (a[KindCol.HOLDOFF] > last)
            | (a[KindCol.LAST_CLEAR] >= last - horizon_us))
    alerts: dict[str, dict[str, float]] = {}
    for k in np.flatnonzero(keep).tolist():
        cols = {A_NAMES[i]: v for i, v in enumerate(a[:, k].tolist()) if v == v}  # no NaN
        if not opened[k]:
            cols.pop("CSINCE", None)  # a clear timer only matters for an open alert
        alerts[KINDS[k]] = cols
    running = f[Col.RUN_ACTIVE] > 0
    blob = Blob(
        pk=pk, f={name: v for name, v in zip(F_NAMES, f, strict=True) if v == v},
        alerts=alerts, open=[KINDS[k] for k in np.flatnonzero(opened).tolist()],
        memory=memory,
        levels=table.levels[slot, :int(np.nan_to_num(f[Col.STOP_N]))].tolist(),
        hp_zi=table.hp_zi[:, slot].ravel().tolist() if running else [],
        peaks=table.peaks[slot].tolist() if running else [],
    )
    return _encoder.encode(blob)


def decode(data: bytes) -> Blob:
    """Parse a blob (raises msgspec.DecodeError / ValidationError on garbage)."""
    return _decoder.decode(data)


def apply(table: Table, slot: int, blob: Blob) -> Memory:
    """Load a blob into a slot; unknown names are ignored, missing ones keep defaults."""
    table.reset(slot)
    members = Col.__members__
    for name, value in blob.f.items():
        if name in members:
            table.f[slot, members[name]] = value
    for kind, cols in blob.alerts.items():
        if kind in KIND_INDEX:
            k = KIND_INDEX[kind]
            for name, value in cols.items():
                if name in KindCol.__members__:
                    table.a[slot, KindCol[name], k] = value
    for kind in blob.open:
        if kind in KIND_INDEX:
            table.open[slot, KIND_INDEX[kind]] = True
    n = min(len(blob.levels), LEVEL_BUFFER)
    table.levels[slot, :n] = blob.levels[:n]
    if len(blob.hp_zi) == FILTER_SECTIONS * 2:
        table.hp_zi[:, slot] = np.asarray(blob.hp_zi).reshape(FILTER_SECTIONS, 2)
    if len(blob.peaks) == PEAKS:
        table.peaks[slot] = blob.peaks
    return blob.memory
