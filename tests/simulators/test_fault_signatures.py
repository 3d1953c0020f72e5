"""Each injected fault shows the contract's signature, inside its ground-truth window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulators.badmessages import BAD_MESSAGE_TYPES
from simulators.faultspec import ALERT_FAULTS
from tests.simulators.helpers import Run, run_fleet

# kind -> (params, event-time seconds to run, buildings)
CASES: dict[str, tuple[str, float, str]] = {
    "trapped_passenger": ("where=between_floors,duration=60s", 420, "residential"),
    "door_open_while_moving": ("", 300, "residential"),
    "overspeed": ("", 300, "residential"),
    "overrun": ("end=top", 400, "residential"),
    "safety_circuit_open": ("duration=60s", 400, "residential"),
    "power_loss": ("duration=60s,backup=20s", 300, "residential"),
    "leveling_error": ("stops=5", 600, "residential"),
    "door_fault": ("mode=slow_close,close_s=70s", 400, "residential"),
    "motor_overheat": ("tau=2m,hold=90s", 900, "residential"),
    "abnormal_vibration": ("ramp_runs=3,hold_runs=6,min_runs=12", 1500, "office"),
    "alarm_pressed": ("duration=10s", 200, "residential"),
    "offline": ("duration=100s", 400, "residential"),
    "sealed_in_use": ("duration=2m", 400, "residential"),
}
EXTRA = {  # what else a fault may legitimately cause on its own elevator
    "offline": {"offline"},
}


def _inject(kind: str, params: str, seconds: float, buildings: str, **kw: Any) -> Run:
    spec = f"{kind}@60s:E0001" + (f"[{params}]" if params else "")
    return run_fleet(elevators=3, seed=5, buildings=buildings, duration_s=seconds,
                     faults=spec, **kw)


def test_every_alert_kind_has_a_case() -> None:
    assert set(CASES) == set(ALERT_FAULTS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_fault_signature_and_ground_truth(kind: str) -> None:
    params, seconds, buildings = CASES[kind]
    run = _inject(kind, params, seconds, buildings)
    records = [r for r in run.ground_truth if r["kind"] == kind]
    assert len(records) == 1, run.ground_truth
    rec = records[0]
    assert rec["elevator_id"] == "E0001" and not rec["params"].get("truncated")
    assert rec["params"]["injected_ms"] <= rec["start_ms"] <= rec["end_ms"]
    if kind == "sealed_in_use":
        moving = [s for s in run.samples["E0001"] if abs(s.speed_mps) > 0.1
                  and rec["start_ms"] <= s.ts <= rec["end_ms"]]
        assert moving, "a sealed elevator must actually be used inside the window"
        assert run.hits("E0001").kinds() == set()
        return
    hits = run.hits("E0001")
    inside = [t for t in hits.times.get(kind, []) if rec["start_ms"] <= t <= rec["end_ms"] + 5000]
    assert inside, f"{kind}: condition never met in {rec}"
    assert hits.kinds() <= {kind} | EXTRA.get(kind, set()), hits.kinds()
    for other in ("E0002", "E0003"):
        assert run.hits(other).kinds() == set(), other


def test_trapped_at_a_landing_keeps_the_doors_shut() -> None:
    run = _inject("trapped_passenger", "where=at_landing,duration=60s", 420, "residential")
    rec = next(r for r in run.ground_truth if r["kind"] == "trapped_passenger")
    during = [s for s in run.samples["E0001"] if rec["start_ms"] <= s.ts < rec["end_ms"]]
    assert during and all(s.door == "closed" and s.occupied for s in during)
    assert all(s.level_mm is not None and abs(s.level_mm) < 10 for s in during)
    assert "trapped_passenger" in run.hits("E0001").kinds()


def test_trapped_between_floors_is_outside_the_door_zone() -> None:
    run = _inject("trapped_passenger", "where=between_floors,duration=60s", 420, "residential")
    rec = next(r for r in run.ground_truth if r["kind"] == "trapped_passenger")
    landings = np.array(run.elevator("E0001").landings)
    during = [s for s in run.samples["E0001"] if rec["start_ms"] <= s.ts < rec["end_ms"] - 15000]
    assert during
    assert all(np.abs(landings - s.pos_m).min() > 0.2 for s in during)


def test_door_reversals_mode() -> None:
    run = _inject("door_fault", "mode=reversals", 300, "residential")
    assert "door_fault" in run.hits("E0001").kinds()
    rec = next(r for r in run.ground_truth if r["kind"] == "door_fault")
    assert rec["params"]["mode"] == "reversals"


def test_offline_sends_a_state_then_silence_then_online() -> None:
    run = _inject("offline", "duration=100s,reboot=true", 400, "residential")
    rec = next(r for r in run.ground_truth if r["kind"] == "offline")
    states = run.states["E0001"]
    assert [s for _, s in states] == ["online", "offline", "online"]
    assert states[1][0] == rec["start_ms"] and states[2][0] == rec["end_ms"]
    ts = [s.ts for s in run.samples["E0001"]]
    assert not any(rec["start_ms"] < t < rec["end_ms"] for t in ts)
    after = [s for s in run.samples["E0001"] if s.ts > rec["end_ms"]]
    assert after[0].seq == 0  # the device rebooted


def test_bad_messages_are_each_refused_and_recorded() -> None:
    spec = ",".join(f"bad_message@{10 + k}s:E0002[type={t}]"
                    for k, t in enumerate(BAD_MESSAGE_TYPES))
    run = run_fleet(elevators=2, seed=3, buildings="residential", duration_s=40, faults=spec)
    records = [r for r in run.ground_truth if r["kind"] == "bad_message"]
    assert sorted(r["params"]["type"] for r in records) == sorted(BAD_MESSAGE_TYPES)
    assert len(run.rejects) == len(BAD_MESSAGE_TYPES)
    reasons = {exc.reason for _, exc in run.rejects}
    assert {"not_json", "not_utf8", "wrong_type", "missing_field", "out_of_range",
            "invalid_value", "ts_in_future", "too_large", "unregistered_elevator"} == reasons


def test_duplicates_are_byte_identical_redeliveries() -> None:
    run = run_fleet(elevators=2, seed=3, buildings="residential", duration_s=30,
                    faults="duplicate@10s:E0001[copies=2]", keep_raw=True)
    rec = next(r for r in run.ground_truth if r["kind"] == "duplicate")
    mine = [p for t, p, _ in run.raw if t == "lift/E0001/telemetry"]
    dup = [p for p in mine if mine.count(p) > 1]
    assert len(dup) == 3 and f'"seq":{rec["params"]["seq"]},'.encode() in dup[0]
