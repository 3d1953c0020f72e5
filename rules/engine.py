"""The rules engine: committed telemetry in, alert transitions out, on event time.

``Engine.process`` takes what the ingester committed (:class:`core.stream.Committed`).
Samples are grouped per elevator and sorted by ``ts``; then they are evaluated in
*rounds*, each holding at most one sample per elevator, so every detector updates the
whole fleet's timers with a few numpy operations while each elevator still sees its
samples in event-time order (see ``rules/detectors``). Rare events (a raise, a stop, a
door reversal, the end of a run) are handled in Python.

Out-of-order samples. Within one call samples are sorted, so any reordering inside a
batch is free. A sample not newer than the newest one already processed for its elevator
is *late*: it may still raise an instantaneous kind (door_open_while_moving, overspeed,
overrun, sealed_in_use, safety_circuit_open) if that kind is not open and was not cleared
after the sample's time, but it never advances or rewinds timers, stops, door cycles or
runs. Late samples more than ``late_tolerance_s`` (600 s) behind are ignored. Exact
duplicates (elevator, ts, seq) inside a batch are dropped; across batches they are late
samples, which cannot raise anything twice.

``offline`` alone uses the service clock: :meth:`Engine.tick` raises it when an elevator
that has been heard from is silent for ``timeout_s``; a state message ``offline`` raises
it at once; any message clears it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
import numpy as np
import structlog
from numpy.typing import NDArray

from core.codec import Sample, Telemetry
from core.stream import Committed
from rules.detectors import DETECTORS
from rules.detectors.base import US, Alerts, Change, Round, run_timed
from rules.state import (
    DOOR_CODES,
    KIND_INDEX,
    KINDS,
    MODE_CODES,
    N_MODES,
    POWER_CODES,
    Col,
    KindCol,
    Memory,
    Table,
)
from rules.state import apply as apply_blob
from rules.state import decode as decode_blob
from rules.state import encode as encode_blob
from rules.thresholds import RulesConfig
from rules.transitions import Transition

__all__ = ["ElevatorInfo", "Engine", "Transition"]

log = structlog.get_logger(__name__)

OFFLINE = "offline"
SEALED = "sealed_in_use"
ELEVATOR = "elevator"  # parameter "kind" of registry values
ELEVATOR_PARAMS = ("rated_speed_mps", "rated_load_kg", "lowest_landing_m", "top_landing_m")
_NAN = math.nan


@dataclass(frozen=True, slots=True)
class ElevatorInfo:
    """What the engine needs of the registry."""

    pk: int
    id: str
    model: str | None
    rated_speed_mps: float
    rated_load_kg: float
    landings_m: tuple[float, ...]
    sealed: bool


@dataclass(slots=True)
class _Columns:
    """The samples of one batch as numpy columns (one entry per sample)."""

    slot: NDArray[np.intp]
    ts: NDArray[np.float64]
    seq: NDArray[np.int64]
    floor: NDArray[np.float64]
    speed: NDArray[np.float64]
    door: NDArray[np.int8]
    pos: NDArray[np.float64]
    lock: NDArray[np.int8]
    chain: NDArray[np.int8]
    level: NDArray[np.float64]
    load: NDArray[np.float64]
    occupied: NDArray[np.int8]
    alarm: NDArray[np.int8]
    temp: NDArray[np.float64]
    power: NDArray[np.int8]
    mode: NDArray[np.int8]
    fault: NDArray[np.object_]
    acc: NDArray[np.object_]
    acc_len: NDArray[np.int32]

    def take(self, idx: NDArray[np.intp]) -> _Columns:
        """The samples at idx."""
        return _Columns(**{name: getattr(self, name)[idx] for name in self.__slots__})  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.ts)


def _tri(values: list[bool | None]) -> NDArray[np.int8]:
    """-1 (absent), 0 or 1 from optional booleans (numpy turns None into NaN)."""
    x = np.array(values, dtype=np.float64)
    return np.where(np.isnan(x), -1, x).astype(np.int8)  # type: ignore[no-any-return]


def _columns(slots: list[int], ts: list[int], samples: list[Sample]) -> _Columns:
    """Typed columns of the samples (one list comprehension per field: the hot loop)."""
    door, power, mode = DOOR_CODES, POWER_CODES, MODE_CODES
    acc = np.empty(len(samples), dtype=object)
    acc[:] = [s.accel for s in samples]
    fault = np.empty(len(samples), dtype=object)
    codes = [s.fault for s in samples]
    if any(codes):
        fault[:] = [c or None for c in codes]  # "absent or empty means none"
    occupied = [s.occupied for s in samples]
    f64 = np.float64
    # load only stands in for a missing `occupied`
    load = (np.array([s.load_kg for s in samples], dtype=f64) if None in occupied
            else np.full(len(samples), np.nan))
    return _Columns(
        slot=np.array(slots, dtype=np.intp), ts=np.array(ts, dtype=f64),
        seq=np.array([-1 if s.seq is None else s.seq for s in samples], dtype=np.int64),
        floor=np.array([s.floor for s in samples], dtype=f64),
        speed=np.array([s.speed_mps for s in samples], dtype=f64),
        door=np.array([door[s.door] for s in samples], dtype=np.int8),
        pos=np.array([s.pos_m for s in samples], dtype=f64),
        lock=_tri([s.door_lock for s in samples]),
        chain=_tri([s.safety_chain for s in samples]),
        level=np.array([s.level_mm for s in samples], dtype=f64),
        load=load, occupied=_tri(occupied),
        alarm=_tri([s.alarm for s in samples]),
        temp=np.array([s.motor_temp_c for s in samples], dtype=f64),
        power=np.array([power.get(s.power, -1) for s in samples], dtype=np.int8),  # type: ignore[arg-type]
        mode=np.array([mode.get(s.mode, -1) for s in samples], dtype=np.int8),  # type: ignore[arg-type]
        fault=fault, acc=acc,
        acc_len=np.array([0 if a is None else len(a.z) for a in acc.tolist()], dtype=np.int32))


class Engine:
    """Evaluates every telemetry alert kind for a fleet; see the module docstring."""

    def __init__(self, config: RulesConfig, elevators: Iterable[ElevatorInfo]) -> None:
        self._config = config
        self._table = Table()
        self._slot: dict[int, int] = {}
        self._info: list[ElevatorInfo] = []
        self._memory: list[Memory] = []
        self._severity: list[dict[str, str]] = []
        self._columns = self._param_columns(config)
        self._params = np.zeros((self._table.capacity, len(self._columns)))
        self._suppress = np.zeros((self._table.capacity, len(KINDS), N_MODES), dtype=bool)
        self._dirty: set[int] = set()
        self._pending: list[Change] = []
        self._restored: dict[int, bytes] = {}
        self.unknown_pks: set[int] = set()  # telemetry of elevators set_elevators never gave
        self.samples = 0
        self.late_samples = 0
        self.dropped_samples = 0
        self.set_elevators(elevators)

    # -- registry and configuration -----------------------------------------------------
    @staticmethod
    def _param_columns(config: RulesConfig) -> dict[tuple[str, str], int]:
        cols: dict[tuple[str, str], int] = {}
        for key in ELEVATOR_PARAMS:
            cols[(ELEVATOR, key)] = len(cols)
        for kind in KINDS:
            for key, value in config.rules[kind].items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    cols[(kind, key)] = len(cols)
        return cols

    def _grow(self, n: int) -> None:
        self._table.ensure(n)
        cap = self._table.capacity
        if self._params.shape[0] < cap:
            extra = cap - self._params.shape[0]
            self._params = np.concatenate(
                [self._params, np.zeros((extra, self._params.shape[1]))])
            self._suppress = np.concatenate(
                [self._suppress, np.zeros((extra, len(KINDS), N_MODES), dtype=bool)])

    def _resolve(self, slot: int) -> None:
        """Load one elevator's thresholds, severities and suppressions from the config."""
        info = self._info[slot]
        profile = self._config.profile(info.id, info.model)
        row = self._params[slot]
        for (kind, key), col in self._columns.items():
            if kind != ELEVATOR:
                row[col] = float(profile[kind][key])  # type: ignore[arg-type]
        lands = info.landings_m
        row[self._columns[(ELEVATOR, "rated_speed_mps")]] = info.rated_speed_mps
        row[self._columns[(ELEVATOR, "rated_load_kg")]] = info.rated_load_kg
        row[self._columns[(ELEVATOR, "lowest_landing_m")]] = lands[0] if lands else _NAN
        row[self._columns[(ELEVATOR, "top_landing_m")]] = lands[-1] if lands else _NAN
        self._severity[slot] = {kind: str(profile[kind]["severity"]) for kind in KINDS}
        for k, kind in enumerate(KINDS):
            params = profile[kind]
            modes = params.get("suppress_in", [])
            assert isinstance(modes, list)
            for mode, code in MODE_CODES.items():
                self._suppress[slot, k, code] = (not params.get("enabled", True)
                                                 or mode in modes)

    def set_elevators(self, elevators: Iterable[ElevatorInfo]) -> None:
        """Add new elevators and update known ones (thresholds, landings, seal)."""
        for info in elevators:
            slot = self._slot.get(info.pk)
            if slot is None:
                slot = len(self._info)
                self._grow(slot + 1)
                self._slot[info.pk] = slot
                self._info.append(info)
                self._memory.append(Memory())
                self._severity.append({})
                self._table.reset(slot)
                self.unknown_pks.discard(info.pk)
                self._resolve(slot)
                self._table.f[slot, Col.SEALED] = float(info.sealed)
                blob = self._restored.pop(info.pk, None)
                if blob is not None:
                    self._restore_one(slot, blob)
                self._dirty.add(slot)
                continue
            old = self._info[slot]
            self._info[slot] = info
            if (old.model, old.id, old.landings_m, old.rated_speed_mps, old.rated_load_kg) != (
                    info.model, info.id, info.landings_m, info.rated_speed_mps,
                    info.rated_load_kg):
                self._resolve(slot)
            if old.sealed != info.sealed:
                self._table.f[slot, Col.SEALED] = float(info.sealed)
                self._dirty.add(slot)
                if not info.sealed:
                    self._unsealed(slot)

    def _unsealed(self, slot: int) -> None:
        """An unsealed elevator's sealed_in_use clears now (reported on the next call)."""
        t = self._table
        last = t.f[slot, Col.LAST_TS]
        at = last if not math.isnan(last) else time.time() * US
        alerts = Alerts(self._config.engine, self._pending)
        alerts.clear_at(t.open, t.a, slot, slot, self._memory[slot], SEALED, at,
                        {"cleared_by": "unsealed"}, respect_min_open=False)

    def reload(self, config: RulesConfig) -> None:
        """Use new thresholds from now on; open alerts and timers are kept."""
        self._config = config
        for slot in range(len(self._info)):
            self._resolve(slot)

    @property
    def config(self) -> RulesConfig:
        """The configuration in use."""
        return self._config

    # -- telemetry ------------------------------------------------------------------------
    def process(self, batch: Committed, now_us: int | None = None) -> list[Transition]:
        """Evaluate a committed batch (telemetry and state messages) on event time.

        now_us is the service clock for offline bookkeeping (default: the wall clock).
        """
        now = float(now_us if now_us is not None else time.time_ns() // 1000)
        out: list[Change] = self._pending
        self._pending = []
        alerts = Alerts(self._config.engine, out)
        cols = self._flatten(batch.messages)
        if cols is not None:
            self._evaluate(cols, now, alerts)
        for _eid, pk, state, ts_us in batch.states:
            self._state_message(pk, state, float(ts_us), now, alerts)
        return self._named(out)

    def _flatten(self, messages: list[tuple[str, int, Telemetry]]) -> _Columns | None:
        get = self._slot.get
        known = [(get(pk, -1), tel) for _eid, pk, tel in messages]
        if any(slot < 0 for slot, _ in known):
            for (_eid, pk, _tel), (slot, _) in zip(messages, known, strict=True):
                if slot < 0 and pk not in self.unknown_pks:
                    log.warning("telemetry of an elevator the rules engine does not know",
                                elevator_pk=pk)
                    self.unknown_pks.add(pk)
            known = [(slot, tel) for slot, tel in known if slot >= 0]
        if not known:
            return None
        # comprehensions, not loops with extend: this runs once per message
        slots = [slot for slot, tel in known for _ in tel.ts_us]
        ts = [t for _, tel in known for t in tel.ts_us]
        samples = [s for _, tel in known for s in tel.samples]
        return _columns(slots, ts, samples)

    def _evaluate(self, cols: _Columns, now: float, alerts: Alerts) -> None:
        settings = self._config.engine
        t = self._table
        order = np.lexsort((cols.seq, cols.ts, cols.slot))
        cols = cols.take(order)
        slot, ts = cols.slot, cols.ts
        dup = np.zeros(len(ts), dtype=bool)
        dup[1:] = (slot[1:] == slot[:-1]) & (ts[1:] == ts[:-1]) & (cols.seq[1:] == cols.seq[:-1])
        last = t.f[slot, Col.LAST_TS]
        with np.errstate(invalid="ignore"):
            late = ts <= last
            stale = ts < last - settings.late_tolerance_s * US
        self.samples += len(ts)
        self.late_samples += int(late.sum())
        self.dropped_samples += int((dup | stale).sum())
        seen = np.unique(slot)
        self._heard(seen, cols, now, alerts)
        self._dirty.update(seen.tolist())
        late_idx = np.flatnonzero(late & ~stale & ~dup)
        if len(late_idx):
            self._late(cols.take(late_idx), alerts)
        fresh = np.flatnonzero(~late & ~dup)
        if len(fresh):
            self._rounds(cols.take(fresh), alerts)

    def _heard(self, seen: NDArray[np.intp], cols: _Columns, now: float,
               alerts: Alerts) -> None:
        """Any message clears offline (at its event time) and resets the silence clock."""
        t = self._table
        t.f[seen, Col.LAST_RX] = now
        k = KIND_INDEX[OFFLINE]
        for s in seen[t.open[seen, k]].tolist():
            first = float(cols.ts[np.searchsorted(cols.slot, s)])
            alerts.clear_at(t.open, t.a, s, s, self._memory[s], OFFLINE, first,
                            {"cleared_by": "message"}, respect_min_open=False)

    def _late(self, cols: _Columns, alerts: Alerts) -> None:
        """Late samples: instantaneous kinds only, no state written."""
        t = self._table
        slots = cols.slot
        self._run_round(cols, slice(None), slots, t.f, t.a, t.open, self._params,
                        self._suppress, [self._memory[s] for s in slots.tolist()],
                        [self._info[s].landings_m for s in slots.tolist()], alerts, late=True)

    def _rounds(self, cols: _Columns, alerts: Alerts) -> None:
        """Fresh samples: rounds of at most one sample per elevator, in ts order."""
        t = self._table
        slot = cols.slot  # sorted by (slot, ts)
        uniq, first, counts = np.unique(slot, return_index=True, return_counts=True)
        rank = np.arange(len(slot)) - np.repeat(first, counts)
        by_count = np.argsort(-counts, kind="stable")  # busiest first: rounds are prefixes
        col_of = np.empty(len(uniq), dtype=np.intp)
        col_of[by_count] = np.arange(len(uniq))
        col = np.repeat(col_of, counts)
        cslots = uniq[by_count]
        ccounts = counts[by_count]
        n_rounds = int(ccounts[0])
        sizes = np.searchsorted(-ccounts, -np.arange(n_rounds), side="left")
        grid = {}
        shape = (n_rounds, len(uniq))
        for name in _Columns.__slots__:  # type: ignore[attr-defined]
            values = getattr(cols, name)
            g = np.empty(shape, dtype=values.dtype)
            g[rank, col] = values
            grid[name] = g
        f, a, opened = t.f[cslots], t.a[cslots], t.open[cslots]
        p, supp = self._params[cslots], self._suppress[cslots]
        memory = [self._memory[s] for s in cslots.tolist()]
        landings = [self._info[s].landings_m for s in cslots.tolist()]
        for k in range(n_rounds):
            m = int(sizes[k])
            row = _Columns(**{name: g[k, :m] for name, g in grid.items()})
            self._run_round(row, slice(0, m), cslots[:m], f, a, opened, p, supp, memory,
                            landings, alerts, late=False)
        t.f[cslots], t.a[cslots], t.open[cslots] = f, a, opened

    def _run_round(self, c: _Columns, rows: slice | NDArray[np.intp], slots: NDArray[np.intp],
                   f: NDArray[np.float64], a: NDArray[np.float64], opened: NDArray[np.bool_],
                   p: NDArray[np.float64], supp: NDArray[np.bool_], memory: list[Memory],
                   landings: list[tuple[float, ...]], alerts: Alerts, *, late: bool) -> None:
        """Derive the round's values (carrying omitted fields forward) and run detectors."""
        s = self._config.engine
        if late:
            rows = slots
        ts = c.ts
        carried = f[rows]  # (m, N_COLS) copy: reading it column by column is cheap
        mode = np.where(c.mode >= 0, c.mode, carried[:, Col.MODE]).astype(np.int8)
        lock = np.where(c.lock >= 0, c.lock, carried[:, Col.LOCK])
        chain = np.where(c.chain >= 0, c.chain, carried[:, Col.CHAIN])
        power = np.where(c.power >= 0, c.power, carried[:, Col.POWER]).astype(np.int8)
        with np.errstate(invalid="ignore"):
            by_load = np.where(np.isnan(c.load), carried[:, Col.OCCUPIED],
                               c.load > s.occupied_load_kg)
        occupied = np.where(c.occupied >= 0, c.occupied, by_load)
        alarm = np.where(c.alarm >= 0, c.alarm, carried[:, Col.ALARM])
        temp = np.where(np.isnan(c.temp), carried[:, Col.TEMP], c.temp)
        spd = np.abs(c.speed)
        stationary = spd <= s.stationary_mps
        gap = ts - carried[:, Col.LAST_TS]
        gap_ok = gap <= s.gap_tolerance_s * US + carried[:, Col.GAP_BONUS]
        m = len(ts)
        r = Round(
            late=late, rows=rows, slots=slots, f=f, a=a, open=opened, p=p,
            columns=self._columns, memory=memory, landings=landings, table=self._table,
            settings=s, ts=ts, speed=c.speed, spd=spd, door=c.door, pos=c.pos, level=c.level,
            floor=c.floor, temp=temp, mode=mode, lock=lock > 0, chain=chain > 0, power=power,
            occupied=occupied > 0, alarm=alarm > 0, acc_len=c.acc_len, acc=c.acc,
            stationary=stationary, moving=~stationary,
            prev_moving=carried[:, Col.PREV_MOVING] > 0, prev_door=carried[:, Col.PREV_DOOR],
            gap_ok=gap_ok, supp=supp[rows][np.arange(m), :, mode] if not late
            else supp[slots, :, mode], sealed=carried[:, Col.SEALED] > 0)
        has_fault = c.fault != None  # noqa: E711 (elementwise on an object array)
        for j in np.flatnonzero(has_fault | (carried[:, Col.HAS_FAULT] > 0)).tolist():
            memory[j].fault_code = c.fault[j]
        for detect in DETECTORS:
            detect(r, alerts)
        run_timed(r, alerts)
        if late:
            return
        f[rows, Col.MODE] = mode
        f[rows, Col.LOCK] = lock
        f[rows, Col.CHAIN] = chain
        f[rows, Col.POWER] = power
        f[rows, Col.OCCUPIED] = occupied
        f[rows, Col.ALARM] = alarm
        f[rows, Col.TEMP] = temp
        f[rows, Col.LAST_TS] = ts
        f[rows, Col.GAP_BONUS] = 0.0
        f[rows, Col.PREV_MOVING] = ~stationary
        f[rows, Col.PREV_DOOR] = c.door
        f[rows, Col.HAS_FAULT] = has_fault

    # -- state messages and the service clock -------------------------------------------
    def _state_message(self, pk: int, state: str, ts: float, now: float,
                       alerts: Alerts) -> None:
        slot = self._slot.get(pk)
        if slot is None:
            self.unknown_pks.add(pk)
            return
        t = self._table
        f = t.f[slot]
        f[Col.LAST_RX] = now
        self._dirty.add(slot)
        if ts < f[Col.STATE_TS]:
            return  # an older retained state delivered again
        f[Col.STATE_TS] = ts
        mem = self._memory[slot]
        if state == "offline":
            # a last will carries the time the device connected, older than its samples:
            # the condition holds from the newest thing we know
            at = ts if math.isnan(f[Col.LAST_TS]) else max(ts, f[Col.LAST_TS])
            if not self._suppress[slot, KIND_INDEX[OFFLINE], int(f[Col.MODE])]:
                alerts.raise_at(t.open, t.a, slot, slot, mem, OFFLINE, at,
                                {"reason": "state_offline", "state_ts_us": int(ts)})
        else:
            alerts.clear_at(t.open, t.a, slot, slot, mem, OFFLINE, ts,
                            {"cleared_by": "state_online"}, respect_min_open=False)

    def tick(self, now_us: int) -> list[Transition]:
        """Service-clock rules: offline after silence; sealed_in_use after 10 min at rest."""
        out = self._pending
        self._pending = []
        alerts = Alerts(self._config.engine, out)
        n = len(self._info)
        if n == 0:
            return self._named(out)
        t = self._table
        now = float(now_us)
        k = KIND_INDEX[OFFLINE]
        last = t.f[:n, Col.LAST_RX]
        timeout = self._params[:n, self._columns[(OFFLINE, "timeout_s")]] * US
        modes = t.f[:n, Col.MODE].astype(np.intp)
        with np.errstate(invalid="ignore"):
            due = ((now - last >= timeout) & ~t.open[:n, k]
                   & ~self._suppress[np.arange(n), k, modes])
        for s in np.flatnonzero(due).tolist():
            at = float(last[s] + timeout[s])
            if alerts.raise_at(t.open, t.a, s, s, self._memory[s], OFFLINE, at, {
                    "reason": "silent", "last_message_us": int(last[s]),
                    "silent_for_s": round((now - last[s]) / US, 1)}):
                self._dirty.add(s)
        ks = KIND_INDEX[SEALED]
        hold = self._params[:n, self._columns[(SEALED, "clear_stationary_s")]] * US
        since = t.a[:n, KindCol.CSINCE, ks]
        with np.errstate(invalid="ignore"):
            rest = t.open[:n, ks] & (t.f[:n, Col.PREV_MOVING] == 0) & (now - since >= hold)
        for s in np.flatnonzero(rest).tolist():
            if alerts.clear_at(t.open, t.a, s, s, self._memory[s], SEALED,
                               float(since[s] + hold[s]), {"cleared_by": "stationary"}):
                self._dirty.add(s)
        return self._named(out)

    def _named(self, changes: list[Change]) -> list[Transition]:
        out = []
        for ch in changes:
            info = self._info[ch.slot]
            self._dirty.add(ch.slot)
            out.append(Transition(info.id, info.pk, ch.kind, ch.action, ch.at_us,
                                  self._severity[ch.slot][ch.kind], ch.details))
        return out

    # -- what is open ---------------------------------------------------------------------
    def open_kinds(self, elevator_pk: int) -> set[str]:
        """The kinds the engine believes are raised (open) for an elevator."""
        slot = self._slot.get(elevator_pk)
        if slot is None:
            return set()
        return {KINDS[k] for k in np.flatnonzero(self._table.open[slot]).tolist()}

    def sync_open(self, open_alerts: Iterable[tuple[int, str]]) -> None:
        """Adopt the complete set of open (pk, kind) alerts of the database.

        Kinds open there but not here are adopted (so the engine clears them when their
        condition clears); kinds open here but not there were resolved by hand and are
        forgotten (see :meth:`forget`). Kinds the engine does not raise are ignored.
        """
        want: dict[int, set[str]] = {}
        for pk, kind in open_alerts:
            if kind in KIND_INDEX and pk in self._slot:
                want.setdefault(self._slot[pk], set()).add(kind)
        t = self._table
        for slot in range(len(self._info)):
            kinds = want.get(slot, set())
            for k, kind in enumerate(KINDS):
                if kind in kinds and not t.open[slot, k]:
                    t.open[slot, k] = True
                    t.a[slot, KindCol.RAISED_AT, k] = -math.inf
                    t.a[slot, KindCol.LAST_UPDATE, k] = -math.inf
                    t.a[slot, KindCol.METRIC, k] = math.nan  # no updates of an adopted alert
                    self._dirty.add(slot)
                elif kind not in kinds and t.open[slot, k]:
                    self._forget(slot, k)

    def forget(self, elevator_pk: int, kind: str) -> None:
        """A user resolved an alert by hand: the engine closes it and, if the condition
        persists, raises it again only after reraise_holdoff_s of event time."""
        slot = self._slot.get(elevator_pk)
        if slot is not None and kind in KIND_INDEX:
            self._forget(slot, KIND_INDEX[kind])

    def _forget(self, slot: int, k: int) -> None:
        t = self._table
        if not t.open[slot, k]:
            return
        t.open[slot, k] = False
        last = t.f[slot, Col.LAST_TS]
        base = last if not math.isnan(last) else time.time() * US
        t.a[slot, KindCol.HOLDOFF, k] = base + self._config.engine.reraise_holdoff_s * US
        self._memory[slot].details.pop(KINDS[k], None)
        self._dirty.add(slot)

    # -- persistence ------------------------------------------------------------------------
    def snapshot(self, only_dirty: bool = False) -> dict[int, bytes]:
        """Per-elevator state blobs (msgpack) by pk; only those changed since the last call
        with only_dirty, else all. Either way the dirty set is emptied."""
        slots = sorted(self._dirty) if only_dirty else range(len(self._info))
        horizon = self._config.engine.late_tolerance_s * US
        out = {self._info[s].pk: encode_blob(self._table, s, self._info[s].pk,
                                             self._memory[s], horizon) for s in slots}
        self._dirty.clear()
        return out

    def restore(self, blobs: dict[int, bytes]) -> None:
        """Load state saved by snapshot(); blobs of unknown elevators wait for set_elevators.

        After a restore the first sample of each elevator may bridge a gap up to
        restore_gap_s without breaking a running "for N s" (the samples of the downtime
        were processed before the stop, or are redelivered by the broker).
        """
        for pk, blob in blobs.items():
            slot = self._slot.get(pk)
            if slot is None:
                self._restored[pk] = blob
            else:
                self._restore_one(slot, blob)

    def _restore_one(self, slot: int, data: bytes) -> None:
        try:
            blob = decode_blob(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("unreadable rule state; starting this elevator afresh",
                      elevator_pk=self._info[slot].pk, error=str(exc))
            return
        t = self._table
        self._memory[slot] = apply_blob(t, slot, blob)
        t.f[slot, Col.SEALED] = float(self._info[slot].sealed)
        t.f[slot, Col.GAP_BONUS] = self._config.engine.restore_gap_s * US
        self._dirty.add(slot)

    def last_event_us(self, elevator_pk: int) -> int | None:
        """Event time of the newest sample processed for an elevator (for replaying)."""
        slot = self._slot.get(elevator_pk)
        if slot is None or math.isnan(self._table.f[slot, Col.LAST_TS]):
            return None
        return int(self._table.f[slot, Col.LAST_TS])

    @property
    def elevators(self) -> list[ElevatorInfo]:
        """The elevators the engine knows."""
        return list(self._info)

