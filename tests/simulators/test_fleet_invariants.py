"""Normal service: valid messages, physical invariants, no alert condition ever met."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.simulators.helpers import Run, run_fleet

# closing -> opening is a reversal; a reversal that reopens quickly may skip 'opening'
ALLOWED = {
    "closed": {"closed", "opening"},
    "opening": {"opening", "open"},
    "open": {"open", "closing"},
    "closing": {"closing", "closed", "opening", "open"},
}


@pytest.fixture(scope="module")
def normal() -> Run:
    """40 minutes of morning traffic: two residential towers and an office block."""
    return run_fleet(elevators=10, seed=11, buildings="mixed", duration_s=2400)


def test_every_message_is_valid_per_the_contract(normal: Run) -> None:
    assert normal.rejects == []
    assert len(normal.samples) == 10
    for eid, samples in normal.samples.items():
        assert len(samples) > 2300, eid  # 2400 samples less the rare dropped one


def test_speed_position_and_doors_obey_physics(normal: Run) -> None:
    for eid, samples in normal.samples.items():
        elevator = normal.elevator(eid)
        speed = np.array([s.speed_mps for s in samples])
        pos = np.array([s.pos_m for s in samples])
        assert np.abs(speed).max() <= elevator.rated_speed, eid
        assert pos.min() >= -0.3 and pos.max() <= elevator.landings[-1] + 0.3, eid
        for s in samples:
            if abs(s.speed_mps) > 0.1:
                assert s.door == "closed" and s.door_lock, (eid, s)
            assert s.safety_chain and s.power == "mains" and not s.alarm and s.fault is None
            assert s.load_kg is not None and s.load_kg <= 0.9 * 1350


def test_door_cycles_follow_the_state_machine(normal: Run) -> None:
    transitions = set()
    for eid, samples in normal.samples.items():
        for a, b in itertools.pairwise(samples):
            if b.ts - a.ts > 1500:
                continue  # a dropped sample in between
            assert b.door in ALLOWED[a.door], (eid, a.ts, a.door, b.door)
            transitions.add((a.door, b.door))
    assert {("closed", "opening"), ("open", "closing"), ("closing", "closed")} <= transitions


def test_seq_counts_every_sample_and_only_drops_leave_gaps(normal: Run) -> None:
    for eid, samples in normal.samples.items():
        seqs = np.array([s.seq for s in samples])
        steps = np.diff(seqs)
        assert seqs[0] == 0 and steps.min() == 1 and steps.max() <= 2, eid
        ts_steps = np.diff([s.ts for s in samples])
        assert set(ts_steps.tolist()) <= {1000, 2000}, eid


def test_traffic_moves_people_and_levels_well(normal: Run) -> None:
    for eid, samples in normal.samples.items():
        levels = [s.level_mm for s in samples if s.level_mm is not None and s.door != "closed"]
        assert levels and max(abs(x) for x in levels) <= 5.0, eid
        assert max(s.motor_temp_c for s in samples) < 70.0, eid
        assert any(s.occupied for s in samples), eid
        assert sum(s.accel is not None for s in samples) > 100, eid
    windows = [s.accel for v in normal.samples.values() for s in v if s.accel is not None]
    assert {len(w.z) for w in windows} == {100} and {w.hz for w in windows} == {100.0}


def test_no_alert_condition_is_ever_met_in_normal_service(normal: Run) -> None:
    for eid in normal.samples:
        assert normal.hits(eid).kinds() == set(), eid
    assert normal.ground_truth == []
