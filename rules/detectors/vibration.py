"""Ride quality per run, against each elevator's own baseline (ISO 18738 style).

A *run* lasts from the first moving sample to the next stationary one; the accel windows
of those samples are one continuous signal. Its vibration is the RMS of ``accel.z`` after
a 4th-order Butterworth high-pass at 1 Hz removes the ride's own acceleration; the filter
state is carried from window to window (and from elevator to elevator in one call: the
windows of a round are filtered as the rows of one matrix). The baseline is the median
vibration of the elevator's recent normal runs; nothing is judged before there are
baseline_runs of them. Details also give the run's peak-to-peak, A95 (the 95th percentile
of the peak-to-peak values of the run's one-sample windows, after ISO 18738's A95 of
peak-to-peak values) and the peak jerk, taken from 0.1 s block means of the signal (a
boxcar low-pass with its first null at 10 Hz, the band ISO 18738-1 uses for jerk).
"""

from __future__ import annotations

import math
import statistics
import struct
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from rules.detectors.base import US, Alerts, Round
from rules.state import FILTER_SECTIONS, KIND_INDEX, PEAKS, Col

KIND = "abnormal_vibration"
JERK_LOWPASS_HZ = 10.0  # ISO 18738-1 evaluates jerk on a 10 Hz low-passed signal
RECENT_RUNS = 5  # runs whose figures are kept for details


@lru_cache(maxsize=64)
def highpass(hz: float, cutoff: float) -> NDArray[np.float64]:
    """Second-order sections of the high-pass that removes the ride acceleration."""
    cutoff = min(cutoff, 0.45 * hz)
    sos: NDArray[np.float64] = signal.butter(2 * FILTER_SECTIONS, cutoff, "highpass", fs=hz,
                                             output="sos")
    return sos


def step(r: Round, alerts: Alerts) -> None:
    """Track runs, filter their accel windows, judge each run when it ends."""
    if r.late:
        return
    active = r.get(Col.RUN_ACTIVE) > 0
    start = r.moving & ~active
    if start.any():
        _start(r, np.flatnonzero(start))
        active = active | start
    sel = active & (r.acc_len > 0)
    if sel.any():
        _filter(r, np.flatnonzero(sel))
    vmax = r.get(Col.RUN_VMAX)
    r.put(Col.RUN_VMAX, np.fmax(vmax, r.spd), active)
    end = active & r.stationary
    if end.any():
        for j in np.flatnonzero(end).tolist():
            _judge(r, alerts, j)
        r.put(Col.RUN_ACTIVE, 0.0, end)


@lru_cache(maxsize=16)
def _packer(length: int) -> struct.Struct:
    return struct.Struct(f"{length}d")


def _matrix(windows: list[list[float]], length: int) -> NDArray[np.float64]:
    """Windows of equal length as a matrix; struct.pack unboxes Python floats about three
    times faster than np.array does, and this is the engine's largest per-sample cost."""
    pack = _packer(length).pack
    data = b"".join([pack(*z) for z in windows])
    return np.frombuffer(data, dtype=np.float64).reshape(len(windows), length)


def _start(r: Round, idx: NDArray[np.intp]) -> None:
    mask = np.zeros(r.m, dtype=bool)
    mask[idx] = True
    for col, value in ((Col.RUN_ACTIVE, 1.0), (Col.RUN_N, 0.0), (Col.RUN_SUMSQ, 0.0),
                       (Col.RUN_MIN, math.inf), (Col.RUN_MAX, -math.inf), (Col.RUN_JERK, 0.0),
                       (Col.RUN_LAST_A, math.nan), (Col.RUN_VMAX, 0.0), (Col.RUN_HZ, math.nan),
                       (Col.RUN_WINDOWS, 0.0)):
        r.put(col, value, mask)
    r.put(Col.RUN_T0, r.ts, mask)
    slots = r.slots[idx]
    r.table.hp_zi[:, slots] = 0.0  # the car was at rest: a zero filter state is exact
    r.table.peaks[slots] = np.nan


def _filter(r: Round, idx: NDArray[np.intp]) -> None:
    """Filter the windows of the selected rows, grouped by length, rate and cut-off."""
    cutoff = r.param(KIND, "highpass_hz")
    groups: dict[tuple[int, float, float], list[int]] = {}
    acc = r.acc
    lengths = r.acc_len
    for j in idx.tolist():
        groups.setdefault((int(lengths[j]), float(acc[j].hz), float(cutoff[j])), []).append(j)
    table = r.table
    f = r.f
    for (length, hz, cut), members in groups.items():
        js = np.asarray(members, dtype=np.intp)
        slots = r.slots[js]
        rows = js + (r.rows.start or 0) if isinstance(r.rows, slice) else r.rows[js]
        x = _matrix([acc[j].z for j in members], length)
        y, table.hp_zi[:, slots] = signal.sosfilt(highpass(hz, cut), x, axis=1,
                                                  zi=table.hp_zi[:, slots])
        # jerk: differences of 0.1 s block means, continued from the previous window
        block = max(1, round(hz / JERK_LOWPASS_HZ))
        usable = length - length % block
        if usable:
            means = x[:, :usable].reshape(len(members), -1, block).mean(axis=2)
            last = f[rows, Col.RUN_LAST_A]
            prev = np.where(np.isnan(last), means[:, 0], last)
            steps = np.diff(np.concatenate([prev[:, None], means], axis=1), axis=1)
            f[rows, Col.RUN_JERK] = np.fmax(f[rows, Col.RUN_JERK],
                                          np.abs(steps).max(axis=1) * hz / block)
            f[rows, Col.RUN_LAST_A] = means[:, -1]
        lo, hi = y.min(axis=1), y.max(axis=1)
        f[rows, Col.RUN_SUMSQ] += np.einsum("ij,ij->i", y, y)
        windows = f[rows, Col.RUN_WINDOWS]
        f[rows, Col.RUN_WINDOWS] = windows + 1
        f[rows, Col.RUN_N] += length
        f[rows, Col.RUN_MIN] = np.fmin(f[rows, Col.RUN_MIN], lo)
        f[rows, Col.RUN_MAX] = np.fmax(f[rows, Col.RUN_MAX], hi)
        f[rows, Col.RUN_HZ] = hz
        table.peaks[slots, windows.astype(np.intp) % PEAKS] = hi - lo  # latest PEAKS kept


def _a95(peaks: NDArray[np.float64]) -> float:
    """95th percentile (nearest rank) of the run's window peak-to-peak values."""
    known = np.sort(peaks[~np.isnan(peaks)])
    if not len(known):
        return 0.0
    return float(known[max(0, math.ceil(0.95 * len(known)) - 1)])


def _judge(r: Round, alerts: Alerts, j: int) -> None:
    """A run has ended: compare its vibration with the baseline; learn from normal runs."""
    row, slot = r.row(j), int(r.slots[j])
    f = r.f[row]
    n = int(f[Col.RUN_N])
    duration_s = (float(r.ts[j]) - float(f[Col.RUN_T0])) / US
    if n == 0 or duration_s < r.param_at(j, KIND, "min_run_s"):
        return
    if r.supp[j, KIND_INDEX[KIND]]:
        return  # runs in inspection or maintenance are neither judged nor learnt from
    rms = math.sqrt(float(f[Col.RUN_SUMSQ]) / n)
    mem = r.memory[j]
    run: dict[str, Any] = {
        "rms_mps2": round(rms, 4), "pk_pk_mps2": round(float(f[Col.RUN_MAX] - f[Col.RUN_MIN]), 4),
        "a95_mps2": round(_a95(r.table.peaks[slot]), 4),
        "max_jerk_mps3": round(float(f[Col.RUN_JERK]), 3),
        "max_speed_mps": round(float(f[Col.RUN_VMAX]), 3), "duration_s": round(duration_s, 1)}
    mem.vib_recent = [*mem.vib_recent, run][-RECENT_RUNS:]
    need = int(r.param_at(j, KIND, "baseline_runs"))
    window = int(r.param_at(j, KIND, "baseline_window"))
    if len(mem.vib_normal) < need:
        mem.vib_normal = [*mem.vib_normal, round(rms, 5)][-window:]
        return
    base = statistics.median(mem.vib_normal)
    ratio = rms / base if base > 0 else math.inf
    run["ratio"] = round(ratio, 2)
    bad = ratio > r.param_at(j, KIND, "factor")
    good = ratio < r.param_at(j, KIND, "clear_factor")
    mem.vib_bad = mem.vib_bad + 1 if bad else 0
    mem.vib_good = mem.vib_good + 1 if good else 0
    is_open = alerts.is_open(r, j, KIND)
    t = float(r.ts[j])
    details = {**r.base_details(j), **run, "baseline_rms_mps2": round(base, 4),
               "bad_runs": mem.vib_bad}
    if not is_open and mem.vib_bad >= r.param_at(j, KIND, "bad_runs"):
        alerts.raise_(r, j, KIND, t, details)
    elif is_open and mem.vib_good >= r.param_at(j, KIND, "clear_runs"):
        alerts.clear(r, j, KIND, t, {"good_runs": mem.vib_good})
    elif is_open and bad:
        alerts.update(r, j, KIND, t, details)
    if not is_open and good and not alerts.is_open(r, j, KIND):
        mem.vib_normal = [*mem.vib_normal, round(rms, 5)][-window:]
