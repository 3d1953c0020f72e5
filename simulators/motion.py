"""Jerk-limited car motion: each run is a program of constant-jerk segments.

A program is up to :data:`SEGMENTS` rows of (start time, position, speed, acceleration,
jerk). Between two segment starts the motion is the exact cubic, so a program can be
evaluated at any instant: once per sample for the whole fleet, and at 100 Hz or more for
the acceleration windows of the cars that move. Programs are planned in Python when a run
starts (a rare event); evaluation is vectorised with numpy across cars.

A normal run accelerates with jerk J to acceleration A, cruises at the run's peak speed,
decelerates to a levelling creep speed, creeps the last few centimetres and stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SEGMENTS = 16
BEFORE = -1e12  # start time of the stationary segment before a program's first move
EMERGENCY_DECEL = 2.5  # m/s^2, a drive or safety-gear stop
EMERGENCY_JERK = 15.0

Phases = list[tuple[float, float]]  # (duration s, jerk m/s^3) in the direction of travel
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Drive:
    """Motion limits of one run."""

    speed: float
    accel: float
    jerk: float
    creep_speed: float = 0.06
    creep_m: float = 0.025
    stop_jerk: float = 0.4


def _ramp(dv: float, accel: float, jerk: float) -> Phases:
    """Phases that raise the speed by dv, starting and ending at zero acceleration."""
    if dv <= 0.0:
        return []
    if dv >= accel * accel / jerk:
        t1, t2 = accel / jerk, dv / accel - accel / jerk
    else:
        t1, t2 = math.sqrt(dv / jerk), 0.0
    return [(t1, jerk), (t2, 0.0), (t1, -jerk)]


def ramp_time(dv: float, accel: float, jerk: float) -> float:
    """Seconds to change speed by dv under the accel and jerk limits."""
    return sum(d for d, _ in _ramp(dv, accel, jerk))


def run_phases(distance: float, drive: Drive) -> Phases:
    """Phases of a run over distance (> 0) metres: S-curve, cruise, creep, stop."""
    vc, creep = drive.creep_speed, drive.creep_m
    t_stop = math.sqrt(vc / drive.stop_jerk)
    halt: Phases = [(t_stop, -drive.stop_jerk), (t_stop, drive.stop_jerk)]
    d_stop = vc * t_stop

    def needed(v: float) -> float:
        up = v * ramp_time(v, drive.accel, drive.jerk) / 2.0
        down = (v + vc) / 2.0 * ramp_time(v - vc, drive.accel, drive.jerk)
        return up + down + creep + d_stop

    if distance < needed(vc):
        # a nudge of a few centimetres: +j, -j, -j, +j covers 2 j T^3
        t = (distance / (2.0 * drive.jerk)) ** (1.0 / 3.0)
        j = drive.jerk
        return [(t, j), (t, -j), (t, -j), (t, j)]
    v = drive.speed
    if needed(v) > distance:
        lo, hi = vc, v
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            if needed(mid) > distance:
                hi = mid
            else:
                lo = mid
        v = lo
    cruise = max(0.0, (distance - needed(v)) / v)
    down = [(d, -j) for d, j in _ramp(v - vc, drive.accel, drive.jerk)]
    up = _ramp(v, drive.accel, drive.jerk)
    return [*up, (cruise, 0.0), *down, (creep / vc, 0.0), *halt]


def stop_phases(speed: float, accel: float, *, decel: float = EMERGENCY_DECEL,
                jerk: float = EMERGENCY_JERK) -> Phases:
    """Phases that bring a car from (speed > 0, accel) to rest, in forward coordinates."""
    def residual(d: float) -> tuple[float, float]:
        t1 = max(0.0, (accel + d) / jerk)
        g = speed + accel * t1 - jerk * t1 * t1 / 2.0 - d * d / (2.0 * jerk)
        return t1, g

    d = decel
    t1, g = residual(d)
    if g < 0.0:
        lo, hi = 1e-6, decel
        if residual(lo)[1] < 0.0:
            # already braking hard at low speed: release the brake ramp at once
            return [(abs(accel) / jerk, jerk if accel < 0 else -jerk)]
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if residual(mid)[1] < 0.0:
                hi = mid
            else:
                lo = mid
        d = lo
        t1, g = residual(d)
    return [(t1, -jerk), (max(0.0, g) / d, 0.0), (d / jerk, jerk)]


Segment = tuple[float, float, float, float, float]  # t, p, v, a, j


def rest_position(p: float, v: float, a: float, *, decel: float = EMERGENCY_DECEL,
                  jerk: float = EMERGENCY_JERK) -> float:
    """Where a car at (p, v, a) comes to rest after an emergency stop."""
    if abs(v) < 1e-6:
        return p
    direction = 1.0 if v > 0 else -1.0
    phases = stop_phases(abs(v), a * direction, decel=decel, jerk=jerk)
    return integrate(0.0, p, v, a, direction, phases)[-1][1]


def integrate(t0: float, p0: float, v0: float, a0: float, direction: float,
              phases: Phases) -> list[Segment]:
    """Segments starting at t0 from (p0, v0, a0); jerks are multiplied by direction."""
    segs: list[Segment] = []
    t, p, v, a = t0, p0, v0, a0
    for dur, jerk in phases:
        if dur <= 1e-9:
            continue
        j = direction * jerk
        segs.append((t, p, v, a, j))
        p += v * dur + a * dur * dur / 2.0 + j * dur ** 3 / 6.0
        v += a * dur + j * dur * dur / 2.0
        a += j * dur
        t += dur
    segs.append((t, p, 0.0, 0.0, 0.0))
    return segs


def plan_run(t0: float, p0: float, p1: float, drive: Drive) -> list[Segment]:
    """Segments of a run from rest at p0 to rest at p1 starting at t0."""
    distance = abs(p1 - p0)
    direction = 1.0 if p1 >= p0 else -1.0
    phases = run_phases(distance, drive)
    segs = integrate(t0, p0, 0.0, 0.0, direction, phases)
    error = (p1 - segs[-1][1]) * direction
    if abs(error) > 1e-9 and len(phases) > 4:
        # absorb rounding into the creep so the car lands exactly where planned
        i = len(phases) - 3
        phases[i] = (phases[i][0] + error / drive.creep_speed, 0.0)
        segs = integrate(t0, p0, 0.0, 0.0, direction, phases)
    return [(BEFORE, p0, 0.0, 0.0, 0.0), *segs]


class MotionTable:
    """The motion programs of a fleet, one row per car."""

    def __init__(self, positions: FloatArray) -> None:
        n = len(positions)
        self.t = np.full((n, SEGMENTS), np.inf)
        self.p = np.zeros((n, SEGMENTS))
        self.v = np.zeros((n, SEGMENTS))
        self.a = np.zeros((n, SEGMENTS))
        self.j = np.zeros((n, SEGMENTS))
        self.t[:, 0] = BEFORE
        self.p[:, 0] = positions
        # the interval in which each car may move: accel windows are made for it
        self.move_start = np.full(n, np.inf)
        self.move_end = np.full(n, -np.inf)

    def set(self, car: int, segs: list[Segment]) -> None:
        """Replace a car's program."""
        if len(segs) > SEGMENTS:
            raise ValueError(f"a program holds at most {SEGMENTS} segments, got {len(segs)}")
        k = len(segs)
        arr = np.asarray(segs, dtype=np.float64)
        self.t[car, :k], self.p[car, :k], self.v[car, :k] = arr[:, 0], arr[:, 1], arr[:, 2]
        self.a[car, :k], self.j[car, :k] = arr[:, 3], arr[:, 4]
        self.t[car, k:] = np.inf
        moving = [s for s in segs[:-1] if s[0] > BEFORE]
        if moving:
            self.move_start[car] = moving[0][0]
            self.move_end[car] = segs[-1][0]

    def park(self, car: int, t: float, position: float) -> None:
        """Hold a car at rest at position from t on (a new stationary program)."""
        self.set(car, [(BEFORE, position, 0.0, 0.0, 0.0)])
        self.move_start[car], self.move_end[car] = np.inf, -np.inf

    def segments(self, car: int) -> list[Segment]:
        """A car's program as a list of segments."""
        k = int(np.isfinite(self.t[car]).sum())
        return [(float(self.t[car, i]), float(self.p[car, i]), float(self.v[car, i]),
                 float(self.a[car, i]), float(self.j[car, i])) for i in range(k)]

    def state(self, car: int, t: float) -> tuple[float, float, float]:
        """(position, speed, acceleration) of one car at t."""
        starts = self.t[car]
        k = max(0, int(np.searchsorted(starts, t, side="right")) - 1)
        tau = t - float(starts[k])
        p0, v0 = float(self.p[car, k]), float(self.v[car, k])
        a0, j = float(self.a[car, k]), float(self.j[car, k])
        return (p0 + v0 * tau + a0 * tau * tau / 2.0 + j * tau ** 3 / 6.0,
                v0 + a0 * tau + j * tau * tau / 2.0, a0 + j * tau)

    def end(self, car: int) -> tuple[float, float]:
        """(time, position) at which a car's program comes to rest."""
        segs = self.segments(car)
        return segs[-1][0], segs[-1][1]

    def run(self, car: int, t0: float, p1: float, drive: Drive) -> float:
        """Start a run of a car at rest to p1 at t0; returns the arrival time."""
        p0 = self.state(car, t0)[0]
        segs = plan_run(t0, p0, p1, drive)
        self.set(car, segs)
        return segs[-1][0]

    def emergency_stop(self, car: int, t: float, *, decel: float = EMERGENCY_DECEL,
                       jerk: float = EMERGENCY_JERK) -> float:
        """Stop a moving car from t as fast as the limits allow; returns when it rests."""
        p, v, a = self.state(car, t)
        keep = [s for s in self.segments(car) if s[0] < t]
        if abs(v) < 1e-6 and abs(a) < 1e-6:
            self.set(car, [*keep, (t, p, 0.0, 0.0, 0.0)])
            return t
        direction = 1.0 if v >= 0 else -1.0
        phases = stop_phases(abs(v), a * direction, decel=decel, jerk=jerk)
        self.set(car, keep + integrate(t, p, v, a, direction, phases))
        return self.end(car)[0]

    def evaluate(self, cars: NDArray[np.intp], times: FloatArray
                 ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Position, speed and acceleration of cars (n,) at times (n, m)."""
        t = self.t[cars]
        idx = (t[:, None, :] <= times[:, :, None]).sum(axis=2) - 1
        np.maximum(idx, 0, out=idx)
        rows = np.arange(len(cars))[:, None]
        c = cars[:, None]
        tau = times - t[rows, idx]
        p0, v0 = self.p[c, idx], self.v[c, idx]
        a0, j = self.a[c, idx], self.j[c, idx]
        acc = a0 + j * tau
        vel = v0 + a0 * tau + j * tau * tau / 2.0
        pos = p0 + v0 * tau + a0 * tau * tau / 2.0 + j * tau * tau * tau / 6.0
        return pos, vel, acc

    def trace(self, car: int, t0: float, t1: float, step: float = 0.01
              ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(times, positions, speeds) of one car sampled every step from t0 to t1."""
        times = np.arange(t0, t1 + step, step)
        p, v, _ = self.evaluate(np.array([car]), times[None, :])
        return times, p[0], v[0]
