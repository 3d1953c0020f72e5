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
runs. Late samples more than ``late_tolerance_s`` (600 s) behind are ignored. A sample
dated more than ``future_skew_s`` (10 s) ahead of the service clock is treated as late, so
one forged or wrongly clocked sample cannot hold back the genuine ones after it. Exact
duplicates (elevator, ts, seq) inside a batch are dropped; across batches they are late
samples, which cannot raise anything twice.

``offline`` alone uses the service clock: :meth:`Engine.tick` raises it when an elevator
that has been heard from is silent for ``timeout_s``; a state message ``offline`` raises
it at once; any message clears it.

A decommissioned elevator keeps its slot but is watched no more: its messages are skipped,
the clock raises nothing for it and what it had open is forgotten (the API resolved it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import msgspec
import numpy as np
import structlog
from numpy.typing import NDArray

from core.codec import Telemetry
from core.stream import Committed
from rules.columns import Columns, columns_of
from rules.detectors.base import US, Alerts, Decision
from rules.parameters import ElevatorInfo, Parameters
from rules.rounds import Fleet, run_late, run_rounds
from rules.state import KIND_INDEX, KINDS, MODE_CODES, Col, KindCol, Memory, Table
from rules.state import apply as apply_blob
from rules.state import decode as decode_blob
from rules.state import encode as encode_blob
from rules.thresholds import RulesConfig
from rules.transitions import Transition

__all__ = ["ElevatorInfo", "Engine", "Transition"]

log = structlog.get_logger(__name__)

OFFLINE = "offline"
SEALED = "sealed_in_use"


class Engine:
    """Evaluates every telemetry alert kind for a fleet; see the module docstring."""

    def __init__(self, config: RulesConfig, elevators: Iterable[ElevatorInfo]) -> None:
        self._config = config
        self._table = Table()
        self._slot: dict[int, int] = {}
        self._info: list[ElevatorInfo] = []
        self._memory: list[Memory] = []
        self._params = Parameters(config)
        self._params.ensure(self._table.capacity)
        self._fleet = Fleet(self._table, self._params, self._memory, self._info, config.engine)
        self._dirty: set[int] = set()
        self._pending: list[Decision] = []
        self._restored: dict[int, bytes] = {}
        self._retired: set[int] = set()  # slots of decommissioned elevators (or free)
        self._free: set[int] = set()  # slots of released elevators, to reuse
        self.unknown_pks: set[int] = set()  # telemetry of elevators set_elevators never gave
        self.samples = 0
        self.late_samples = 0
        self.ahead_samples = 0  # dated ahead of the service clock by more than the skew
        self.dropped_samples = 0
        self.set_elevators(elevators)

    # -- registry and configuration -----------------------------------------------------
    def _grow(self, n: int) -> None:
        self._table.ensure(n)
        self._params.ensure(self._table.capacity)

    def _resolve(self, slot: int) -> None:
        self._params.resolve(slot, self._config, self._info[slot])

    def set_elevators(self, elevators: Iterable[ElevatorInfo]) -> None:
        """Add new elevators and update known ones (thresholds, landings, seal)."""
        for info in elevators:
            slot = self._slot.get(info.pk)
            if slot is None:
                slot = self._new_slot(info)
                self.unknown_pks.discard(info.pk)
                self._resolve(slot)
                self._table.f[slot, Col.SEALED] = float(info.sealed)
                blob = self._restored.pop(info.pk, None)
                if blob is not None:
                    self._restore_one(slot, blob)
                if info.decommissioned:
                    self._retire(slot)
                self._dirty.add(slot)
                continue
            old = self._info[slot]
            self._info[slot] = info
            if info.decommissioned and slot not in self._retired:
                self._retire(slot)
            elif not info.decommissioned:
                self._retired.discard(slot)
            if (old.model, old.id, old.landings_m, old.rated_speed_mps, old.rated_load_kg) != (
                    info.model, info.id, info.landings_m, info.rated_speed_mps,
                    info.rated_load_kg):
                self._resolve(slot)
            if old.sealed != info.sealed:
                self._table.f[slot, Col.SEALED] = float(info.sealed)
                self._dirty.add(slot)
                if not info.sealed:
                    self._unsealed(slot)

    def _new_slot(self, info: ElevatorInfo) -> int:
        if self._free:
            slot = self._free.pop()
            self._retired.discard(slot)
            self._info[slot], self._memory[slot] = info, Memory()
        else:
            slot = len(self._info)
            self._grow(slot + 1)
            self._info.append(info)
            self._memory.append(Memory())
        self._slot[info.pk] = slot
        self._table.reset(slot)
        return slot

    def release(self, pks: Iterable[int]) -> None:
        """Forget elevators (another process owns them now); their slots are reused."""
        for pk in pks:
            self._restored.pop(pk, None)
            slot = self._slot.pop(pk, None)
            if slot is not None:
                self._table.reset(slot)
                self._memory[slot] = Memory()
                self._retired.add(slot)
                self._free.add(slot)
                self._dirty.discard(slot)
        self._pending = [d for d in self._pending if d.slot not in self._free]

    def _retire(self, slot: int) -> None:
        """A decommissioned elevator: nothing open, nothing pending, nothing raised again."""
        self._retired.add(slot)
        self._table.open[slot, :] = False
        self._memory[slot].details.clear()
        self._pending = [d for d in self._pending if d.slot != slot]
        self._dirty.add(slot)

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
        self._fleet.settings = config.engine
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
        out: list[Decision] = self._pending
        self._pending = []
        alerts = Alerts(self._config.engine, out)
        cols = self._flatten(batch.messages)
        if cols is not None:
            self._evaluate(cols, now, alerts)
        for _eid, pk, state, ts_us in batch.states:
            self._state_message(pk, state, float(ts_us), now, alerts)
        return self._named(out)

    def _flatten(self, messages: list[tuple[str, int, Telemetry]]) -> Columns | None:
        get = self._slot.get
        known = [(get(pk, -1), tel) for _eid, pk, tel in messages]
        if any(slot < 0 for slot, _ in known):
            for (_eid, pk, _tel), (slot, _) in zip(messages, known, strict=True):
                if slot < 0 and pk not in self.unknown_pks:
                    log.warning("telemetry of an elevator the rules engine does not know",
                                elevator_pk=pk)
                    self.unknown_pks.add(pk)
            known = [(slot, tel) for slot, tel in known if slot >= 0]
        if self._retired:
            known = [(slot, tel) for slot, tel in known if slot not in self._retired]
        if not known:
            return None
        # comprehensions, not loops with extend: this runs once per message
        slots = [slot for slot, tel in known for _ in tel.ts_us]
        ts = [t for _, tel in known for t in tel.ts_us]
        samples = [s for _, tel in known for s in tel.samples]
        return columns_of(slots, ts, samples)

    def _evaluate(self, cols: Columns, now: float, alerts: Alerts) -> None:
        settings = self._config.engine
        t = self._table
        order = np.lexsort((cols.seq, cols.ts, cols.slot))
        cols = cols.take(order)
        slot, ts = cols.slot, cols.ts
        dup = np.zeros(len(ts), dtype=bool)
        dup[1:] = (slot[1:] == slot[:-1]) & (ts[1:] == ts[:-1]) & (cols.seq[1:] == cols.seq[:-1])
        last = t.f[slot, Col.LAST_TS]
        with np.errstate(invalid="ignore"):
            stale = ts < last - settings.late_tolerance_s * US
        # Ahead of the service clock: evaluated like a late sample (instantaneous kinds only),
        # so it cannot become the newest sample and make every genuine one "late".
        ahead = ts > now + settings.future_skew_s * US
        with np.errstate(invalid="ignore"):
            late = (ts <= last) | ahead
        self.samples += len(ts)
        self.ahead_samples += int(ahead.sum())
        self.late_samples += int(late.sum())
        self.dropped_samples += int((dup | stale).sum())
        seen = np.unique(slot)
        self._heard(seen, cols, now, alerts)
        self._dirty.update(seen.tolist())
        late_idx = np.flatnonzero(late & ~stale & ~dup)
        if len(late_idx):
            run_late(cols.take(late_idx), self._fleet, alerts)
        fresh = np.flatnonzero(~late & ~dup)
        if len(fresh):
            run_rounds(cols.take(fresh), self._fleet, alerts)

    def _heard(self, seen: NDArray[np.intp], cols: Columns, now: float,
               alerts: Alerts) -> None:
        """Any message clears offline (at its event time) and resets the silence clock."""
        t = self._table
        t.f[seen, Col.LAST_RX] = now
        k = KIND_INDEX[OFFLINE]
        for s in seen[t.open[seen, k]].tolist():
            first = float(cols.ts[np.searchsorted(cols.slot, s)])
            alerts.clear_at(t.open, t.a, s, s, self._memory[s], OFFLINE, first,
                            {"cleared_by": "message"}, respect_min_open=False)

    # -- state messages and the service clock -------------------------------------------
    def _state_message(self, pk: int, state: str, ts: float, now: float,
                       alerts: Alerts) -> None:
        slot = self._slot.get(pk)
        if slot is None:
            self.unknown_pks.add(pk)
            return
        if slot in self._retired:
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
            if not self._params.suppress[slot, KIND_INDEX[OFFLINE], int(f[Col.MODE])]:
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
        timeout = self._params.values[:n, self._params.column(OFFLINE, "timeout_s")] * US
        modes = t.f[:n, Col.MODE].astype(np.intp)
        with np.errstate(invalid="ignore"):
            due = ((now - last >= timeout) & ~t.open[:n, k]
                   & ~self._params.suppress[np.arange(n), k, modes])
        if self._retired:
            due[sorted(self._retired)] = False
        for s in np.flatnonzero(due).tolist():
            at = float(last[s] + timeout[s])
            if alerts.raise_at(t.open, t.a, s, s, self._memory[s], OFFLINE, at, {
                    "reason": "silent", "last_message_us": int(last[s]),
                    "silent_for_s": round((now - last[s]) / US, 1)}):
                self._dirty.add(s)
        ks = KIND_INDEX[SEALED]
        hold = self._params.values[:n, self._params.column(SEALED, "clear_stationary_s")] * US
        since = t.a[:n, KindCol.CSINCE, ks]
        with np.errstate(invalid="ignore"):
            rest = t.open[:n, ks] & (t.f[:n, Col.PREV_MOVING] == 0) & (now - since >= hold)
        for s in np.flatnonzero(rest).tolist():
            if alerts.clear_at(t.open, t.a, s, s, self._memory[s], SEALED,
                               float(since[s] + hold[s]), {"cleared_by": "stationary"}):
                self._dirty.add(s)
        return self._named(out)

    def _named(self, decisions: list[Decision]) -> list[Transition]:
        out = []
        for d in decisions:
            info = self._info[d.slot]
            self._dirty.add(d.slot)
            out.append(Transition(info.id, info.pk, d.kind, d.action, d.at_us,
                                  self._params.severity[d.slot][d.kind], d.details))
        return out

    def suppressed(self, elevator_pk: int, mode: str) -> set[str]:
        """The kinds not raised for an elevator while its car is in ``mode``."""
        slot = self._slot.get(elevator_pk)
        if slot is None:
            return set()
        row = self._params.suppress[slot, :, MODE_CODES[mode]]
        return {KINDS[k] for k in np.flatnonzero(row).tolist()}

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
            if kind in KIND_INDEX and pk in self._slot and self._slot[pk] not in self._retired:
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
    def snapshot(self, only_dirty: bool = False, pks: Iterable[int] | None = None
                 ) -> dict[int, bytes]:
        """Per-elevator state blobs (msgpack) by pk: of ``pks`` (they are no longer dirty),
        or changed since the last call with only_dirty, or all (the dirty set is emptied)."""
        if pks is not None:
            slots = [self._slot[pk] for pk in pks if pk in self._slot]
            self._dirty.difference_update(slots)
        else:
            slots = sorted(self._dirty) if only_dirty else [
                s for s in range(len(self._info)) if s not in self._free]
            self._dirty.clear()
        horizon = self._config.engine.late_tolerance_s * US
        return {self._info[s].pk: encode_blob(self._table, s, self._info[s].pk,
                                              self._memory[s], horizon) for s in slots}

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

    def knows(self, elevator_pk: int) -> bool:
        """Whether set_elevators gave this elevator (and it was not released)."""
        return elevator_pk in self._slot

    def last_event_us(self, elevator_pk: int) -> int | None:
        """Event time of the newest sample processed for an elevator (for replaying)."""
        slot = self._slot.get(elevator_pk)
        if slot is None or math.isnan(self._table.f[slot, Col.LAST_TS]):
            return None
        return int(self._table.f[slot, Col.LAST_TS])

    @property
    def elevators(self) -> list[ElevatorInfo]:
        """The elevators the engine knows."""
        return [info for s, info in enumerate(self._info) if s not in self._free]

