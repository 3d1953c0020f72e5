"""Scoring: the engine's raises against the simulator's ground truth (detected, latency,
false alerts, collateral)."""

from __future__ import annotations

import statistics
from typing import Any

from evaluation.config import (
    COLLATERAL_AFTER_S,
    MATCH_AFTER_S,
    MATCH_BEFORE_S,
    NOT_INJECTED,
    TRACED,
    US,
)
from evaluation.replay import Run
from evaluation.traces import Trace, reference_time
from rules.thresholds import RulesConfig


def score(truth: list[dict[str, Any]], run: Run, config: RulesConfig,
           elevator_hours: float, traces_by_record: dict[int, Trace | None]
           ) -> dict[str, Any]:
    records = [r for r in truth if r["kind"] not in NOT_INJECTED]
    truncated = [r for r in records if r["params"].get("truncated")]
    used: set[int] = set()
    ignored: set[int] = set()
    kinds: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    missed: list[dict[str, Any]] = []
    for n, rec in enumerate(records):
        kind = rec["kind"]
        lo = rec["start_ms"] * 1000 - MATCH_BEFORE_S * US
        hi = rec["end_ms"] * 1000 + MATCH_AFTER_S * US
        match = next((i for i, t in enumerate(run.raises) if i not in used
                      and t.kind == kind and t.elevator_id == rec["elevator_id"]
                      and lo <= t.at_us <= hi), None)
        if rec["params"].get("truncated"):
            # cut off by the end of the run: its condition may not have been met yet, so it
            # is not scored, but an alert it caused is not a false one either
            if match is not None:
                used.add(match)
                ignored.add(match)
            continue
        entry = kinds.setdefault(kind, {"injected": 0, "detected": 0})
        entry["injected"] += 1
        if match is None:
            if _open_at(run, rec["elevator_id"], kind, rec["start_ms"] * 1000):
                # a repeat of a condition whose alert is still open updates that alert
                entry["detected"] += 1
                entry["already_open"] = entry.get("already_open", 0) + 1
            else:
                missed.append(rec)
            continue
        used.add(match)
        entry["detected"] += 1
        entry["raised_for_it"] = entry.get("raised_for_it", 0) + 1
        hit = run.raises[match]
        ref = reference_time(kind, rec, traces_by_record.get(n), config, hit.details)
        if ref is not None:
            latencies.setdefault(kind, []).append((hit.at_us - ref) / US)
    windows: dict[str, list[tuple[float, float]]] = {}
    for rec in truth:
        if rec["kind"] in NOT_INJECTED:
            continue
        windows.setdefault(rec["elevator_id"], []).append(
            (rec["start_ms"] * 1000 - MATCH_BEFORE_S * US,
             rec["end_ms"] * 1000 + COLLATERAL_AFTER_S * US))
    false_alerts: list[dict[str, Any]] = []
    collateral: list[dict[str, Any]] = []
    raised: dict[str, int] = {}
    for i, t in enumerate(run.raises):
        if i in ignored:
            continue
        raised[t.kind] = raised.get(t.kind, 0) + 1
        if i in used:
            continue
        inside = any(lo <= t.at_us <= hi for lo, hi in windows.get(t.elevator_id, []))
        (collateral if inside else false_alerts).append(
            {"elevator_id": t.elevator_id, "kind": t.kind, "at_us": t.at_us,
             "details": t.details})
    fault_hours = sum((hi - lo) for ws in windows.values() for lo, hi in _merge(ws)) / US / 3600
    normal_hours = max(elevator_hours - fault_hours, 1e-9)
    for kind, entry in kinds.items():
        n_raised = raised.get(kind, 0)
        entry["recall"] = round(entry["detected"] / entry["injected"], 4)
        matched = entry.pop("raised_for_it", 0)
        entry["precision"] = round(matched / n_raised, 4) if n_raised else None
        lat = latencies.get(kind, [])
        entry["median_latency_s"] = round(statistics.median(lat), 2) if lat else None
        entry["max_latency_s"] = round(max(lat), 2) if lat else None
    for kind in raised:
        if kind not in kinds:  # raised but never injected (e.g. the extension kind)
            kinds[kind] = {"injected": 0, "detected": 0, "recall": None, "precision": 0.0,
                           "median_latency_s": None, "max_latency_s": None}
    return {
        "elevator_hours": round(elevator_hours, 1),
        "normal_service_hours": round(normal_hours, 1),
        "false_alerts": len(false_alerts),
        "false_alerts_per_1000h": round(len(false_alerts) / normal_hours * 1000, 3),
        "kinds": dict(sorted(kinds.items())),
        "collateral_alerts": collateral,
        "false_alert_list": false_alerts[:50],
        "missed": missed,
        "truncated_faults": len(truncated),
    }


def _open_at(run: Run, eid: str, kind: str, at_us: int) -> bool:
    """True if the engine had an alert of kind open for eid at at_us."""
    last_raise = max((t.at_us for t in run.raises
                      if t.elevator_id == eid and t.kind == kind and t.at_us <= at_us),
                     default=None)
    if last_raise is None:
        return False
    return not any(last_raise <= c <= at_us for c in run.clears.get((eid, kind), []))


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _traces_by_record(truth: list[dict[str, Any]], run: Run, ids: list[str]
                      ) -> dict[int, Trace | None]:
    """The trace of each traced record: the fault's car and start fall inside it."""
    out: dict[int, Trace | None] = {}
    records = [r for r in truth if r["kind"] not in NOT_INJECTED]
    for n, rec in enumerate(records):
        if rec["kind"] not in TRACED:
            continue
        car = ids.index(rec["elevator_id"])
        start = rec["start_ms"] * 1000
        for fid, tr in run.traces.items():
            # a trace starts with the first sample after the fault was armed
            if (run.trace_of.get(fid) == car and tr.ts
                    and tr.ts[0] - 2 * US <= start <= tr.ts[-1] + US):
                out[n] = tr
                break
    return out


