"""What every detector works with: one round of samples, timers, and the alert sink.

A *round* holds at most one sample per elevator, so a detector can update every
elevator's timers with a few numpy operations and still see each elevator's samples in
event-time order. Raising, updating and clearing are rare: they run in Python through
:class:`Alerts`, which enforces "at most one open alert per kind per elevator", the
minimum open time, the update rate limit and the hold-off after a manual resolve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from rules.state import KIND_INDEX, BoolArray, Col, FloatArray, KindCol, Memory, Table
from rules.thresholds import EngineSettings

US = 1_000_000
Details = dict[str, Any]
Action = Literal["raise", "update", "clear"]
Index = slice | NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Decision:
    """An alert change decided by a detector, before the engine names the elevator."""

    slot: int
    kind: str
    action: Action
    at_us: int
    details: Details


@dataclass(slots=True)
class Round:
    """One sample per elevator (columns of length m) and access to their state rows."""

    late: bool
    rows: Index  # rows of table arrays (a prefix slice of the batch's compact arrays)
    slots: NDArray[np.intp]  # global slot of each row, for per-slot arrays not gathered
    f: FloatArray  # state columns, indexed [rows, Col.X]
    a: FloatArray  # alert columns, indexed [rows, KindCol.X, kind]
    open: BoolArray  # [rows, kind]
    p: FloatArray  # parameters, indexed [rows, column]
    columns: dict[tuple[str, str], int]
    memory: list[Memory]  # per row
    landings: list[tuple[float, ...]]  # per row
    table: Table  # the global arrays (filter states, level buffers)
    settings: EngineSettings
    ts: FloatArray
    speed: FloatArray
    spd: FloatArray
    door: NDArray[np.int8]
    pos: FloatArray
    level: FloatArray
    floor: FloatArray
    temp: FloatArray
    mode: NDArray[np.int8]
    lock: BoolArray
    chain: BoolArray
    power: NDArray[np.int8]
    occupied: BoolArray
    alarm: BoolArray
    acc_len: NDArray[np.int32]
    acc: NDArray[np.object_]
    stationary: BoolArray
    moving: BoolArray
    prev_moving: BoolArray
    prev_door: FloatArray
    gap_ok: BoolArray
    supp: BoolArray  # (m, kinds)
    sealed: BoolArray
    pending: list[Timed] = field(default_factory=list)

    @property
    def m(self) -> int:
        """Samples in this round."""
        return len(self.ts)

    def param(self, kind: str, key: str) -> FloatArray:
        """A parameter for every row."""
        return self.p[self.rows, self.columns[(kind, key)]]  # type: ignore[no-any-return]

    def param_at(self, j: int, kind: str, key: str) -> float:
        """A parameter of one row."""
        return float(self.p[self.row(j), self.columns[(kind, key)]])

    def row(self, j: int) -> int:
        """Table row of round index j."""
        rows = self.rows
        if isinstance(rows, slice):
            return (rows.start or 0) + j
        return int(rows[j])

    def get(self, col: Col) -> FloatArray:
        """A state column for every row."""
        return self.f[self.rows, col]  # type: ignore[no-any-return]

    def put(self, col: Col, values: FloatArray | float, mask: BoolArray | None = None) -> None:
        """Write a state column (only where mask, if given)."""
        if mask is None:
            self.f[self.rows, col] = values
        else:
            cur = self.f[self.rows, col]
            self.f[self.rows, col] = np.where(mask, values, cur)

    def nearest_landing(self, j: int) -> tuple[float, float] | None:
        """(landing height, distance) nearest to row j's position, or None without pos_m."""
        pos = float(self.pos[j])
        lands = self.landings[j]
        if math.isnan(pos) or not lands:
            return None
        best = min(lands, key=lambda h: abs(h - pos))
        return best, abs(best - pos)

    def base_details(self, j: int) -> Details:
        """What every alert's details say about the car at sample j."""
        d: Details = {"speed_mps": round(float(self.speed[j]), 3),
                      "door": ("closed", "opening", "open", "closing")[int(self.door[j])]}
        if not math.isnan(self.pos[j]):
            d["pos_m"] = round(float(self.pos[j]), 3)
        if not math.isnan(self.floor[j]):
            d["floor"] = int(self.floor[j])
        code = self.memory[j].fault_code
        if code:
            d["controller_fault"] = code
        return d


def hold(r: Round, since: FloatArray, cond: BoolArray) -> FloatArray:
    """Start time of each row's current run of cond (NaN where cond is false).

    "For N s" of the contract: cond on every sample, with gaps up to the tolerance.
    """
    keep = r.gap_ok & ~np.isnan(since)
    return np.where(cond, np.where(keep, since, r.ts), np.nan)  # type: ignore[no-any-return]


class Alerts:
    """The sink detectors report to; keeps the engine's view of what is open.

    The ``*_at`` methods work on any pair of (open, alert) arrays and a row in them, so
    the engine uses them outside rounds too (offline, seals, state messages).
    """

    def __init__(self, settings: EngineSettings, out: list[Decision]) -> None:
        self.settings = settings
        self.out = out
        self.min_open_us = settings.min_open_s * US
        self.interval_us = settings.update_interval_s * US

    # -- on any arrays ----------------------------------------------------------------
    def raise_at(self, opened: BoolArray, a: FloatArray, row: int, slot: int, mem: Memory,
                 kind: str, at_us: float, details: Details, metric: float = math.nan) -> bool:
        """Raise kind unless it is open, held off, or (late sample) cleared after at_us."""
        k = KIND_INDEX[kind]
        if (opened[row, k] or at_us < a[row, KindCol.HOLDOFF, k]
                or at_us <= a[row, KindCol.LAST_CLEAR, k]):
            return False
        opened[row, k] = True
        a[row, KindCol.RAISED_AT, k] = at_us
        a[row, KindCol.LAST_UPDATE, k] = at_us
        a[row, KindCol.METRIC, k] = metric
        mem.details[kind] = details
        self.out.append(Decision(slot, kind, "raise", int(at_us), details))
        return True

    def update_at(self, opened: BoolArray, a: FloatArray, row: int, slot: int, mem: Memory,
                  kind: str, at_us: float, details: Details, metric: float = math.nan,
                  force: bool = False) -> bool:
        """Report new details of an open alert (rate-limited; unchanged details dropped)."""
        k = KIND_INDEX[kind]
        if not opened[row, k]:
            return False
        if not force and at_us - a[row, KindCol.LAST_UPDATE, k] < self.interval_us:
            return False
        a[row, KindCol.METRIC, k] = metric
        if mem.details.get(kind) == details:
            return False
        a[row, KindCol.LAST_UPDATE, k] = at_us
        mem.details[kind] = details
        self.out.append(Decision(slot, kind, "update", int(at_us), details))
        return True

    def clear_at(self, opened: BoolArray, a: FloatArray, row: int, slot: int, mem: Memory,
                 kind: str, at_us: float, extra: Details | None = None,
                 respect_min_open: bool = True) -> bool:
        """Clear an open alert (not before the minimum open time, if asked)."""
        k = KIND_INDEX[kind]
        if not opened[row, k]:
            return False
        if respect_min_open and at_us - a[row, KindCol.RAISED_AT, k] < self.min_open_us:
            return False
        opened[row, k] = False
        a[row, KindCol.LAST_CLEAR, k] = at_us
        a[row, KindCol.RSINCE, k] = math.nan  # a new alert needs its full duration again
        details = dict(mem.details.pop(kind, {}))
        if extra:
            details.update(extra)
        self.out.append(Decision(slot, kind, "clear", int(at_us), details))
        return True

    # -- on a round ---------------------------------------------------------------------
    def is_open(self, r: Round, j: int, kind: str) -> bool:
        """True if the engine has an open alert of kind for row j."""
        return bool(r.open[r.row(j), KIND_INDEX[kind]])

    def raise_(self, r: Round, j: int, kind: str, at_us: float, details: Details,
               metric: float = math.nan) -> bool:
        """Raise kind for round index j (see raise_at)."""
        return self.raise_at(r.open, r.a, r.row(j), int(r.slots[j]), r.memory[j], kind,
                             at_us, details, metric)

    def update(self, r: Round, j: int, kind: str, at_us: float, details: Details,
               metric: float = math.nan, force: bool = False) -> bool:
        """Update kind for round index j (see update_at)."""
        return self.update_at(r.open, r.a, r.row(j), int(r.slots[j]), r.memory[j], kind,
                              at_us, details, metric, force)

    def clear(self, r: Round, j: int, kind: str, at_us: float, extra: Details | None = None,
              respect_min_open: bool = True) -> bool:
        """Clear kind for round index j (see clear_at)."""
        return self.clear_at(r.open, r.a, r.row(j), int(r.slots[j]), r.memory[j], kind,
                             at_us, extra, respect_min_open)


@dataclass(slots=True)
class Timed:
    """One kind's raise and clear conditions on a round, waiting for :func:`run_timed`."""

    kind: str
    raise_cond: BoolArray
    raise_s: FloatArray | float
    clear_cond: BoolArray
    clear_s: FloatArray | float
    details: Callable[[int], Details]
    clear_now: BoolArray | None
    metric: FloatArray | None
    metric_step: FloatArray | float
    held_metric_step: FloatArray | float | None


def timed(r: Round, alerts: Alerts, kind: str, *, raise_cond: BoolArray,
          raise_s: FloatArray | float, clear_cond: BoolArray, clear_s: FloatArray | float,
          details: Callable[[int], Details], clear_now: BoolArray | None = None,
          metric: FloatArray | None = None, metric_step: FloatArray | float = math.inf,
          held_metric_step: FloatArray | float | None = None) -> None:
    """A kind raised when raise_cond holds raise_s and cleared when clear_cond holds clear_s.

    clear_now clears at once (no hold, no minimum open time). An open alert is updated
    when metric grows by metric_step over the value last reported, or, with
    held_metric_step, every that many seconds the raise condition keeps holding. The
    kinds of a round are evaluated together, as columns of one matrix, by run_timed.
    """
    r.pending.append(Timed(kind, raise_cond, raise_s, clear_cond, clear_s, details,
                           clear_now, metric, metric_step, held_metric_step))


def _matrix(values: list[Any], m: int, dtype: type) -> NDArray[Any]:
    """(m, len(values)) from per-kind columns (arrays or scalars)."""
    out: NDArray[Any] = np.empty((m, len(values)), dtype=dtype)
    for c, v in enumerate(values):
        out[:, c] = v
    return out


def run_timed(r: Round, alerts: Alerts) -> None:
    """Evaluate every kind queued by timed() on this round, all kinds at once."""
    specs = r.pending
    if not specs:
        return
    r.pending = []
    m = r.m
    ks = np.array([KIND_INDEX[sp.kind] for sp in specs], dtype=np.intp)
    ts = r.ts[:, None]
    rc = _matrix([sp.raise_cond for sp in specs], m, bool) & ~r.supp[:, ks]
    raise_us = _matrix([sp.raise_s for sp in specs], m, float) * US
    if r.late:
        # a late sample may still raise an instantaneous kind (never touches timers)
        for j, c in np.argwhere(rc & (raise_us <= 0.0)).tolist():
            sp = specs[c]
            alerts.raise_(r, j, sp.kind, r.ts[j], sp.details(j),
                          float(sp.metric[j]) if sp.metric is not None else math.nan)
        return
    cc = _matrix([sp.clear_cond for sp in specs], m, bool)
    clear_us = _matrix([sp.clear_s for sp in specs], m, float) * US
    rows = r.rows
    a = r.a
    rs_all, cs_all = a[rows, KindCol.RSINCE], a[rows, KindCol.CSINCE]  # views: rows is a slice here
    keep = r.gap_ok[:, None]
    old = rs_all[:, ks]
    rs = np.where(rc, np.where(keep & ~np.isnan(old), old, ts), np.nan)
    rs_all[:, ks] = rs
    old = cs_all[:, ks]
    cs = np.where(cc, np.where(keep & ~np.isnan(old), old, ts), np.nan)
    cs_all[:, ks] = cs
    opn = r.open[rows][:, ks]
    held = ts - rs
    up = rc & ~opn & (held >= raise_us)
    down = opn & cc & (ts - cs >= clear_us) & (
        ts - a[rows, KindCol.RAISED_AT][:, ks] >= alerts.min_open_us)
    now = [c for c, sp in enumerate(specs) if sp.clear_now is not None]
    if now:
        down[:, now] |= opn[:, now] & _matrix([specs[c].clear_now for c in now], m, bool)
    # updates: a metric that grew by its step, or a condition held another step
    is_held = np.array([sp.held_metric_step is not None for sp in specs])
    metric = np.full((m, len(specs)), np.nan)
    step = np.full((m, len(specs)), np.inf)
    for c, sp in enumerate(specs):
        if sp.held_metric_step is not None:
            metric[:, c] = held[:, c]
            step[:, c] = sp.held_metric_step
            step[:, c] *= US
        elif sp.metric is not None:
            metric[:, c] = sp.metric
            step[:, c] = sp.metric_step
    with np.errstate(invalid="ignore"):
        grow = opn & (metric >= a[rows, KindCol.METRIC][:, ks] + step) & (rc | ~is_held)
    mask = up | down | grow
    if not mask.any():
        return
    for j, c in np.argwhere(mask).tolist():
        sp = specs[c]
        if up[j, c]:
            value = 0.0 if is_held[c] else float(metric[j, c])
            alerts.raise_(r, j, sp.kind, r.ts[j], sp.details(j), value)
        elif down[j, c]:
            instant = sp.clear_now is not None and bool(sp.clear_now[j])
            alerts.clear(r, j, sp.kind, r.ts[j], respect_min_open=not instant)
        elif grow[j, c]:
            value = float(metric[j, c])
            if is_held[c]:  # report whole steps of how long the condition has held
                value = math.floor(value / step[j, c]) * float(step[j, c])
            alerts.update(r, j, sp.kind, r.ts[j], sp.details(j), value)
