"""Run profiles: jerk-limited, within the drive's limits, landing exactly where planned."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.motion import Drive, MotionTable, plan_run, rest_position

DRIVE = Drive(speed=2.0, accel=0.9, jerk=1.2)


@pytest.mark.parametrize("distance", [0.02, 0.3, 2.95, 8.85, 40.0, 96.9])
def test_run_stays_within_limits_and_lands_exactly(distance: float) -> None:
    segs = plan_run(100.0, 3.6, 3.6 + distance, DRIVE)
    table = MotionTable(np.array([3.6]))
    table.set(0, segs)
    times, pos, vel = table.trace(0, 99.0, segs[-1][0] + 1.0, step=0.005)
    acc = np.gradient(vel, times)
    jerk = np.array([s[4] for s in segs])
    assert np.abs(vel).max() <= DRIVE.speed + 1e-9
    assert np.abs(acc).max() <= DRIVE.accel + 0.02
    assert np.abs(jerk).max() <= max(DRIVE.jerk, DRIVE.stop_jerk) + 1e-9
    assert pos[-1] == pytest.approx(3.6 + distance, abs=1e-9)
    assert vel.min() >= -1e-9  # never moves backwards on an upward run
    assert pos.max() <= 3.6 + distance + 1e-9  # no overshoot


def test_long_run_reaches_rated_speed_with_typical_acceleration() -> None:
    table = MotionTable(np.array([0.0]))
    table.set(0, plan_run(0.0, 0.0, 60.0, DRIVE))
    _, _, vel = table.trace(0, 0.0, 40.0)
    assert np.abs(vel).max() == pytest.approx(2.0, abs=1e-6)


def test_emergency_stop_comes_to_rest_where_predicted() -> None:
    table = MotionTable(np.array([0.0]))
    table.set(0, plan_run(0.0, 0.0, 60.0, DRIVE))
    p, v, a = table.state(0, 9.0)
    predicted = rest_position(p, v, a)
    rest_t = table.emergency_stop(0, 9.0)
    p_end, v_end, a_end = table.state(0, rest_t + 5.0)
    assert (v_end, a_end) == (pytest.approx(0.0, abs=1e-9), pytest.approx(0.0, abs=1e-9))
    assert p_end == pytest.approx(predicted, abs=1e-9)
    assert p < p_end < 60.0
