"""Evaluating samples in rounds: at most one sample per elevator per round, in event time.

A batch's fresh samples, sorted by (elevator, ts), are laid out as a grid of rounds x
elevators (busiest elevator first, so every round is a prefix of the grid's columns); each
round derives the values omitted fields carry forward, runs every detector over the whole
round with numpy, and writes the carried state back. Late samples run as one round that
may raise instantaneous kinds but writes no state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rules.columns import Columns
from rules.detectors import DETECTORS
from rules.detectors.base import US, Alerts, Round, run_timed
from rules.parameters import ElevatorInfo, Parameters
from rules.state import Col, Memory, Table
from rules.thresholds import EngineSettings

__all__ = ["Fleet", "run_late", "run_rounds"]


@dataclass(slots=True)
class Fleet:
    """What a round reads and writes besides its samples: the engine's per-slot state."""

    table: Table
    params: Parameters
    memory: list[Memory]
    infos: list[ElevatorInfo]
    settings: EngineSettings


def run_late(cols: Columns, fleet: Fleet, alerts: Alerts) -> None:
    """Late samples: instantaneous kinds only, no state written."""
    t = fleet.table
    slots = cols.slot
    _run_round(cols, slots, slots, t.f, t.a, t.open, fleet.params.values,
               fleet.params.suppress, [fleet.memory[s] for s in slots.tolist()],
               [fleet.infos[s].landings_m for s in slots.tolist()], fleet, alerts, late=True)


def run_rounds(cols: Columns, fleet: Fleet, alerts: Alerts) -> None:
    """Fresh samples: rounds of at most one sample per elevator, in ts order."""
    t = fleet.table
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
    for name in Columns.__slots__:  # type: ignore[attr-defined]
        values = getattr(cols, name)
        g = np.empty(shape, dtype=values.dtype)
        g[rank, col] = values
        grid[name] = g
    f, a, opened = t.f[cslots], t.a[cslots], t.open[cslots]
    p, supp = fleet.params.values[cslots], fleet.params.suppress[cslots]
    memory = [fleet.memory[s] for s in cslots.tolist()]
    landings = [fleet.infos[s].landings_m for s in cslots.tolist()]
    for k in range(n_rounds):
        m = int(sizes[k])
        row = Columns(**{name: g[k, :m] for name, g in grid.items()})
        _run_round(row, slice(0, m), cslots[:m], f, a, opened, p, supp, memory, landings,
                   fleet, alerts, late=False)
    t.f[cslots], t.a[cslots], t.open[cslots] = f, a, opened


def _run_round(c: Columns, rows: slice | NDArray[np.intp], slots: NDArray[np.intp],
               f: NDArray[np.float64], a: NDArray[np.float64], opened: NDArray[np.bool_],
               p: NDArray[np.float64], supp: NDArray[np.bool_], memory: list[Memory],
               landings: list[tuple[float, ...]], fleet: Fleet, alerts: Alerts, *,
               late: bool) -> None:
    """Derive the round's values (carrying omitted fields forward) and run detectors."""
    s = fleet.settings
    ts = c.ts
    carried = f[rows]  # (m, N_COLS) copy: reading it column by column is cheap
    # A mode is carried forward only so long: one forged or stale "maintenance" sample must
    # not switch off the trapped, door and alarm rules for good (NaN age: expired).
    mode_fresh = c.mode >= 0
    with np.errstate(invalid="ignore"):
        expired = ~(ts - carried[:, Col.MODE_TS] <= s.mode_expiry_s * US)
    mode = np.where(mode_fresh, c.mode,
                    np.where(expired, 0, carried[:, Col.MODE])).astype(np.int8)
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
        columns=fleet.params.columns, memory=memory, landings=landings, table=fleet.table,
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
    f[rows, Col.MODE_TS] = np.where(mode_fresh, ts, carried[:, Col.MODE_TS])
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
