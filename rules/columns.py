"""The samples of a batch as typed numpy columns, one entry per sample: what the engine
sorts, splits into rounds and hands to the detectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.codec import Sample
from rules.state import DOOR_CODES, MODE_CODES, POWER_CODES

__all__ = ["Columns", "columns_of", "tri"]


@dataclass(slots=True)
class Columns:
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

    def take(self, idx: NDArray[np.intp]) -> Columns:
        """The samples at idx."""
        return Columns(**{name: getattr(self, name)[idx] for name in self.__slots__})  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.ts)


def tri(values: list[bool | None]) -> NDArray[np.int8]:
    """-1 (absent), 0 or 1 from optional booleans (numpy turns None into NaN)."""
    x = np.array(values, dtype=np.float64)
    return np.where(np.isnan(x), -1, x).astype(np.int8)  # type: ignore[no-any-return]


def columns_of(slots: list[int], ts: list[int], samples: list[Sample]) -> Columns:
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
    return Columns(
        slot=np.array(slots, dtype=np.intp), ts=np.array(ts, dtype=f64),
        seq=np.array([-1 if s.seq is None else s.seq for s in samples], dtype=np.int64),
        floor=np.array([s.floor for s in samples], dtype=f64),
        speed=np.array([s.speed_mps for s in samples], dtype=f64),
        door=np.array([door[s.door] for s in samples], dtype=np.int8),
        pos=np.array([s.pos_m for s in samples], dtype=f64),
        lock=tri([s.door_lock for s in samples]),
        chain=tri([s.safety_chain for s in samples]),
        level=np.array([s.level_mm for s in samples], dtype=f64),
        load=load, occupied=tri(occupied),
        alarm=tri([s.alarm for s in samples]),
        temp=np.array([s.motor_temp_c for s in samples], dtype=f64),
        power=np.array([power.get(s.power, -1) for s in samples], dtype=np.int8),  # type: ignore[arg-type]
        mode=np.array([mode.get(s.mode, -1) for s in samples], dtype=np.int8),  # type: ignore[arg-type]
        fault=fault, acc=acc,
        acc_len=np.array([0 if a is None else len(a.z) for a in acc.tolist()], dtype=np.int32))
