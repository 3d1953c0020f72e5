"""The evaluation harness: deciding moments found in telemetry, and the scoring."""

from __future__ import annotations

from typing import Any

from evaluation import evaluate as run_evaluation
from evaluation.replay import Run
from evaluation.scoring import score
from evaluation.traces import Trace, door_decided, level_decided, runs_decided
from rules import Transition
from rules import thresholds as config

US = 1_000_000
T0 = 1_741_071_600_000_000
RULES = config.load(None)


def _trace(rows: list[tuple[float, str, float]], start: int = T0) -> Trace:
    """One sample a second: (speed, door, level_mm)."""
    tr = Trace()
    for k, (v, d, lv) in enumerate(rows):
        tr.ts.append(start + k * US)
        tr.speed.append(v)
        tr.door.append(d)
        tr.level.append(lv)
    return tr


def test_the_fifth_reversal_decides_a_door_fault() -> None:
    rows = [(0.0, "open", float("nan"))]
    for _ in range(6):
        rows += [(0.0, "closing", float("nan")), (0.0, "opening", float("nan")),
                 (0.0, "open", float("nan"))]
    tr = _trace(rows)
    assert door_decided(tr, T0, dict(RULES.rules["door_fault"])) == T0 + 14 * US


def test_the_end_of_the_third_bad_stop_decides_a_leveling_error() -> None:
    rows: list[tuple[float, str, float]] = []
    for mm in (15.0, 0.0, 14.0, 13.0):
        rows += [(1.0, "closed", float("nan"))] * 3
        rows += [(0.0, "opening", mm), (0.0, "open", mm), (0.0, "closing", mm),
                 (0.0, "closed", mm)]
    tr = _trace(rows)
    # 4th stop's closed sample: 3 stops of 7 samples, then 3 + 3 more
    assert level_decided(tr, T0, dict(RULES.rules["leveling_error"])) == T0 + 27 * US


def test_the_third_run_above_twice_the_wear_decides_abnormal_vibration() -> None:
    rows: list[tuple[float, str, float]] = []
    for _ in range(6):
        rows += [(1.0, "closed", float("nan"))] * 4 + [(0.0, "closed", float("nan"))] * 2
    tr = _trace(rows)
    params = {"factor": "4", "ramp_runs": "6"}
    # wear by run from the start: 2.0 (not above 2x), 2.5, 3.0, 3.5: the 4th run decides
    got = runs_decided(tr, T0, dict(RULES.rules["abnormal_vibration"]), params)
    assert got == T0 + (3 * 6 + 4) * US


def _raise(kind: str, at_us: int, eid: str = "E1", **details: Any) -> Transition:
    return Transition(eid, 1, kind, "raise", at_us, "major", details)


def test_scoring_recall_precision_latency_and_false_alerts() -> None:
    truth = [
        {"elevator_id": "E1", "kind": "power_loss", "start_ms": T0 // 1000,
         "end_ms": T0 // 1000 + 60_000, "params": {}},
        {"elevator_id": "E1", "kind": "alarm_pressed", "start_ms": T0 // 1000 + 500_000,
         "end_ms": T0 // 1000 + 520_000, "params": {}},
        {"elevator_id": "E2", "kind": "overrun", "start_ms": T0 // 1000,
         "end_ms": T0 // 1000 + 1000, "params": {"truncated": True}},
        {"elevator_id": "E1", "kind": "bad_message", "start_ms": T0 // 1000,
         "end_ms": T0 // 1000, "params": {}},
    ]
    run = Run(raises=[
        _raise("power_loss", T0 + 11 * US),  # 10 s rule: 1 s late
        _raise("trapped_passenger", T0 + 40 * US),  # inside the power loss: collateral
        _raise("overrun", T0 + 500_000, "E2"),  # the truncated fault's: not scored
        _raise("overspeed", T0 + 3000 * US, "E3"),  # nothing there: false
    ])
    result = score(truth, run, RULES, 100.0, {})
    kinds = result["kinds"]
    assert kinds["power_loss"] == {"injected": 1, "detected": 1, "recall": 1.0,
                                   "precision": 1.0, "median_latency_s": 1.0,
                                   "max_latency_s": 1.0}
    assert kinds["alarm_pressed"]["recall"] == 0.0
    assert kinds["trapped_passenger"]["precision"] == 0.0
    assert "overrun" not in kinds
    assert result["false_alerts"] == 1
    assert [c["kind"] for c in result["collateral_alerts"]] == ["trapped_passenger"]
    assert result["truncated_faults"] == 1
    assert 9.9 < result["false_alerts_per_1000h"] < 10.2


def test_a_short_simulated_run_end_to_end() -> None:
    result = run_evaluation(1.0, seed=5, elevators=4, fault_rate_per_h=1.5, output=None,
                            show_progress=False, parallel=False)
    assert result["elevator_hours"] == 1.0
    assert result["run"]["samples"] > 3000  # 4 elevators x 900 s at 1 Hz, less faults
    assert result["kinds"], "faults were injected"
    for kind, entry in result["kinds"].items():
        assert entry["recall"] in (None, 1.0), (kind, result["missed"])
    assert result["false_alerts"] == 0, result["false_alert_list"]


def test_a_fault_while_its_alert_is_still_open_counts_as_detected() -> None:
    truth = [
        {"elevator_id": "E1", "kind": "abnormal_vibration", "start_ms": T0 // 1000,
         "end_ms": T0 // 1000 + 600_000, "params": {}},
        {"elevator_id": "E1", "kind": "abnormal_vibration", "start_ms": T0 // 1000 + 800_000,
         "end_ms": T0 // 1000 + 1_400_000, "params": {}},
    ]
    run = Run(raises=[_raise("abnormal_vibration", T0 + 100 * US)])
    result = score(truth, run, RULES, 10.0, {})
    entry = result["kinds"]["abnormal_vibration"]
    assert (entry["detected"], entry["already_open"], entry["precision"]) == (2, 1, 1.0)
    run.clears[("E1", "abnormal_vibration")] = [T0 + 700 * US]  # cleared in between
    assert score(truth, run, RULES, 10.0, {})["kinds"]["abnormal_vibration"]["recall"] == 0.5
