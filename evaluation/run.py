"""Evaluate the rules engine against a simulated fleet with injected faults.

The simulator runs in fast mode; every wire message is decoded with the ingester's own
:class:`~core.codec.TelemetryDecoder` (rejects skipped, duplicate samples dropped by
(elevator, ts, seq)) and fed to an in-process :class:`~rules.engine.Engine` one sample
period at a time; :meth:`Engine.tick` runs on event time. Elevators are sealed while a
``sealed_in_use`` fault is active (as an inspector would have done). The engine's raises
are then compared with the simulator's ground truth:

- *detected*: a raise of the same kind on the same elevator between the fault's start
  (less a small slack) and its end plus MATCH_AFTER_S;
- *latency*: raise time minus the moment the contract's condition was met: fault start +
  the rule's duration for timed kinds; for counted kinds the time of the deciding event
  found in the telemetry (the 5th door reversal or 60 s of closing, the end of the 3rd bad
  stop, the end of the 3rd run whose wear is above 2x: the simulator starts the fault at
  the run whose wear *reaches* 2x, and the contract asks for *above*); for sealed_in_use
  the first moving sample while sealed;
- *false alert*: a raise matching no fault of its kind and outside every fault window;
  raises inside another fault's window are *collateral* (they count against precision).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.codec import Reject, Telemetry, TelemetryDecoder, check_limits, decode_state
from core.codec import parse_topic as parse_wire_topic
from core.domain import ElevatorLimits
from core.stream import Committed
from rules.engine import ElevatorInfo, Engine, Transition
from rules.thresholds import RulesConfig, load

DEFAULT_OUTPUT = Path("bench/results/evaluation.json")
START_TS_MS = 1_741_071_600_000  # Tuesday 2025-03-04 07:00 UTC: a working day's traffic
DEFAULT_ELEVATORS = 500  # x 2 h: rounds of 500 samples keep the engine's overhead low
DEFAULT_FAULT_RATE_PER_H = 0.03  # per kind and elevator-hour: about 30 faults of each kind
MESSAGE_FAULTS = "bad_message=0.05/h,duplicate=0.05/h"
MATCH_BEFORE_S = 5.0
MATCH_AFTER_S = 60.0
COLLATERAL_AFTER_S = 300.0  # a fault's after-effects (a car returning to service)
CHUNK_TICKS = 20  # ticks sent at once from the simulator process
NOT_INJECTED = ("bad_message", "duplicate", "inspection_overdue", "maintenance_overdue")
# kinds whose deciding moment is found in the telemetry (see reference_time)
TRACED = ("door_fault", "leveling_error", "abnormal_vibration", "sealed_in_use")
US = 1_000_000


@dataclass
class _Trace:
    """Samples of one elevator while it carries a fault whose deciding event is traced."""

    ts: list[int] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    door: list[str] = field(default_factory=list)
    level: list[float] = field(default_factory=list)


def _registry(fleet: Any) -> list[tuple[str, str, float, float, tuple[float, ...]]]:
    """(id, model, rated speed, rated load, landings) of every simulated elevator."""
    return [(e.id, e.model, e.rated_speed_mps, e.rated_load_kg, tuple(e.landings_m))
            for e in fleet.layout.elevators]


def _infos(registry: list[tuple[str, str, float, float, tuple[float, ...]]]
           ) -> list[ElevatorInfo]:
    return [ElevatorInfo(pk=i + 1, id=eid, model=model, rated_speed_mps=speed,
                         rated_load_kg=load, landings_m=landings, sealed=False)
            for i, (eid, model, speed, load, landings) in enumerate(registry)]


# -- the simulated fleet, here or in a second process -----------------------------------------

Tick = tuple[int, list[tuple[str, bytes, bool]], frozenset[int],
             dict[str, tuple[tuple[int, float], int]]]


def _observe(fleet: Any, tick_ms: int, msgs: list[tuple[str, bytes, bool]]) -> Tick:
    """A tick with what the harness knows besides the wire: which cars an inspector has
    sealed (an active sealed_in_use fault), and which carry a fault whose deciding moment
    is traced (keyed by car and arming time)."""
    sealed, traced = set(), {}
    for car in fleet.cars:
        fault = car.fault
        if fault is None:
            continue
        if fault.kind == "sealed_in_use" and fault.start is not None:
            sealed.add(car.i)
        if fault.kind in TRACED:
            traced[car.spec.id] = ((car.i, fault.armed_at), car.i)
    return tick_ms, msgs, frozenset(sealed), traced


def _fleet_config(**kwargs: Any) -> Any:
    from simulators.fleet import FleetConfig  # the simulator is a tool, not a dependency

    return FleetConfig(**kwargs)


def _local_ticks(fleet: Any) -> Iterator[Tick]:
    for tick_ms, msgs in fleet.messages():
        yield _observe(fleet, tick_ms, msgs)


def _fleet_process(kwargs: dict[str, Any], conn: Connection) -> None:
    """Child process: run the fleet, send its ticks in chunks, then the ground truth."""
    from simulators.fleet import Fleet

    fleet = Fleet(_fleet_config(**kwargs))
    conn.send((_registry(fleet), fleet.period_s))
    chunk: list[Tick] = []
    for tick_ms, msgs in fleet.messages():
        chunk.append(_observe(fleet, tick_ms, msgs))
        if len(chunk) >= CHUNK_TICKS:
            conn.send(chunk)
            chunk = []
    conn.send(chunk)
    conn.send(None)
    conn.send((fleet.close(), len(fleet.unrealised)))
    conn.close()


class _Source:
    """The fleet's registry, its ticks, and at the end its ground truth."""

    def __init__(self, kwargs: dict[str, Any], parallel: bool) -> None:
        self._proc: Any = None
        self._fleet: Any = None
        if parallel:
            # fork: the child needs nothing re-imported, and no thread runs here yet
            ctx = multiprocessing.get_context("fork")
            self._conn, child = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_fleet_process, args=(kwargs, child), daemon=True)
            self._proc.start()
            child.close()
            self.registry, self.period_s = self._conn.recv()
        else:
            from simulators.fleet import Fleet

            self._fleet = Fleet(_fleet_config(**kwargs))
            self.registry, self.period_s = _registry(self._fleet), self._fleet.period_s

    def ticks(self) -> Iterator[Tick]:
        """Every tick, in event time."""
        if self._fleet is not None:
            yield from _local_ticks(self._fleet)
            return
        while (chunk := self._conn.recv()) is not None:
            yield from chunk

    def finish(self) -> tuple[list[dict[str, Any]], int]:
        """(ground truth, faults never realised)."""
        if self._fleet is not None:
            return self._fleet.close(), len(self._fleet.unrealised)
        truth, unrealised = self._conn.recv()
        self._proc.join(10)
        return truth, unrealised


# -- the deciding moments, found in the telemetry -------------------------------------------

def _door_decided(tr: _Trace, start_us: int, cfg: dict[str, Any]) -> int | None:
    """First moment of 5 reversals within 2 min, or of doors closing for 60 s."""
    need, window = int(cfg["reversals"]), cfg["reversal_window_s"] * US
    reversals: deque[int] = deque()
    closing_since: int | None = None
    prev = None
    for t, d in zip(tr.ts, tr.door, strict=True):
        if t >= start_us:
            if prev == "closing" and d in ("opening", "open"):
                reversals.append(t)
                while reversals[0] <= t - window:
                    reversals.popleft()
                if len(reversals) >= need:
                    return t
            if d == "closing":
                closing_since = t if closing_since is None else closing_since
                if t - closing_since >= cfg["closing_s"] * US:
                    return t
            else:
                closing_since = None
        prev = d
    return None


def _level_decided(tr: _Trace, start_us: int, cfg: dict[str, Any]) -> int | None:
    """End of the stop at which 3 of the last 5 stops (or one stop) were off level."""
    levels: list[float] = []
    history: list[float] = []
    arrived = stop = False
    was_moving = False
    for t, v, d, lv in zip(tr.ts, tr.speed, tr.door, tr.level, strict=True):
        moving = abs(v) > 0.05
        if was_moving and not moving:
            arrived, stop, levels = True, False, []
        if arrived and not moving:
            if not math.isnan(lv):
                levels.append(lv)
            if d in ("opening", "open"):
                stop = True
            elif d == "closed" and stop:
                arrived = stop = False
                if t >= start_us and levels:
                    history = [*history, float(np.median(levels))][-int(cfg["of_last_stops"]):]
                    level = history[-1]
                    bad = sum(1 for x in history if abs(x) > cfg["limit_mm"])
                    if abs(level) > cfg["relevel_limit_mm"] or bad >= cfg["bad_stops"]:
                        return t
        if moving:
            arrived = stop = False
        was_moving = moving
    return None


def _runs_decided(tr: _Trace, start_us: int, cfg: dict[str, Any],
                  params: dict[str, Any]) -> int | None:
    """End of the 3rd run since the fault began whose wear factor is above 2x."""
    factor, ramp = float(params["factor"]), int(params["ramp_runs"])
    # the simulator's wear at its n-th worn run; the fault starts at the first one >= 2
    wear = [1.0 + (factor - 1.0) * min(1.0, n / ramp) for n in range(1, 10 * ramp)]
    first = next(n for n, w in enumerate(wear) if w >= cfg["factor"])
    above = [w > cfg["factor"] for w in wear[first:]]
    runs = bad = 0
    run_start: int | None = None
    for t, v in zip(tr.ts, tr.speed, strict=True):
        moving = abs(v) > 0.05
        if moving and run_start is None:
            run_start = t
        elif not moving and run_start is not None:
            if run_start >= start_us and t - run_start >= cfg["min_run_s"] * US:
                bad = bad + 1 if runs < len(above) and above[runs] else 0
                runs += 1
                if bad >= cfg["bad_runs"]:
                    return t
            run_start = None
    return None


def _motion_decided(tr: _Trace, start_us: int) -> int | None:
    """First moving sample at or after start."""
    return next((t for t, v in zip(tr.ts, tr.speed, strict=True)
                 if t >= start_us and abs(v) > 0.05), None)


def reference_time(kind: str, record: dict[str, Any], trace: _Trace | None,
                   config: RulesConfig, raise_details: dict[str, Any] | None = None
                   ) -> int | None:
    """Epoch us at which the contract's condition was met for an injected fault."""
    start = int(record["start_ms"]) * 1000
    rules = config.rules[kind]
    if kind in TRACED:
        if trace is None:
            return None
        if kind == "door_fault":
            return _door_decided(trace, start, dict(rules))
        if kind == "leveling_error":
            return _level_decided(trace, start, dict(rules))
        if kind == "abnormal_vibration":
            return _runs_decided(trace, start, dict(rules), record["params"])
        return _motion_decided(trace, start)
    if kind == "offline" and (raise_details or {}).get("reason") == "silent":
        return start + int(float(rules["timeout_s"]) * US)  # type: ignore[arg-type]
    duration = rules.get("duration_s", 0.0)
    return start + int(float(duration) * US)  # type: ignore[arg-type]


# -- the run ---------------------------------------------------------------------------------

@dataclass
class _Run:
    """Everything a run collects."""

    raises: list[Transition] = field(default_factory=list)
    clears: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (id, kind)
    transitions: int = 0
    traces: dict[tuple[int, float], _Trace] = field(default_factory=dict)  # (car, armed at)
    trace_of: dict[tuple[int, float], int] = field(default_factory=dict)  # -> car
    messages: int = 0
    samples: int = 0
    rejected: int = 0
    duplicates: int = 0
    engine_s: float = 0.0


def _simulate(source: _Source, engine: Engine, infos: list[ElevatorInfo], total: int, *,
              progress: Progress | None) -> _Run:
    run = _Run()
    decoder = TelemetryDecoder()
    by_id = {i.id: i for i in infos}
    limits = {i.id: ElevatorLimits(i.pk, i.rated_load_kg, i.landings_m[-1], i.landings_m)
              for i in infos}
    newest: dict[str, tuple[int, int | None]] = {}
    topics: dict[str, tuple[str, str]] = {}
    sealed: frozenset[int] = frozenset()
    period_us = int(source.period_s * US)
    task = progress.add_task("evaluating", total=total) if progress else None
    for k, (tick_ms, msgs, now_sealed, traced) in enumerate(source.ticks()):
        now_us = tick_ms * 1000 + period_us
        if now_sealed != sealed:
            engine.set_elevators([_with_seal(infos, i, i in now_sealed)
                                  for i in now_sealed ^ sealed])
            sealed = now_sealed
        telemetry: list[tuple[str, int, Telemetry]] = []
        states: list[tuple[str, int, str, int]] = []
        for topic, payload, _retain in msgs:
            run.messages += 1
            try:
                parsed = topics.get(topic)
                if parsed is None:
                    parsed = topics[topic] = parse_wire_topic(topic)
                eid, what = parsed
                info = by_id.get(eid)
                if info is None:
                    raise Reject("unregistered_elevator", eid)
                if what == "state":
                    state, ts_us = decode_state(payload)
                    states.append((eid, info.pk, state, ts_us))
                    continue
                msg = decoder.decode(payload, now_us)
                check_limits(msg, limits[eid])
            except Reject:
                run.rejected += 1
                continue
            fresh = _dedup(msg, eid, newest, run)
            if fresh is None:
                continue
            msg = fresh
            run.samples += len(msg.samples)
            telemetry.append((eid, info.pk, msg))
            if eid in traced:
                key, car_index = traced[eid]
                tr = run.traces.setdefault(key, _Trace())
                run.trace_of[key] = car_index
                for s, t in zip(msg.samples, msg.ts_us, strict=True):
                    tr.ts.append(t)
                    tr.speed.append(s.speed_mps)
                    tr.door.append(s.door)
                    tr.level.append(math.nan if s.level_mm is None else s.level_mm)
        started = time.process_time()
        out = engine.process(Committed(telemetry, states), now_us=now_us)
        out += engine.tick(now_us)
        run.engine_s += time.process_time() - started
        run.transitions += len(out)
        for change in out:
            if change.action == "raise":
                run.raises.append(change)
            elif change.action == "clear":
                run.clears.setdefault((change.elevator_id, change.kind), []).append(
                    change.at_us)
        if progress is not None and task is not None and k % 50 == 0:
            progress.update(task, completed=k + 1)
    if progress is not None and task is not None:
        progress.update(task, completed=total)
    return run


def _with_seal(infos: list[ElevatorInfo], i: int, sealed: bool) -> ElevatorInfo:
    old = infos[i]
    infos[i] = ElevatorInfo(old.pk, old.id, old.model, old.rated_speed_mps, old.rated_load_kg,
                            old.landings_m, sealed)
    return infos[i]


def _dedup(msg: Telemetry, eid: str, newest: dict[str, tuple[int, int | None]],
           run: _Run) -> Telemetry | None:
    """Drop samples that repeat (ts, seq) of the elevator's newest sample, as the ingester's
    store would: the simulator's duplicates are immediate redeliveries. Any other older
    sample reaches the engine, which treats it as late."""
    top = newest.get(eid, (0, None))
    if msg.ts_us[0] > top[0] and len(msg.ts_us) == 1:  # the common case: one new sample
        newest[eid] = (msg.ts_us[0], msg.samples[0].seq)
        return msg
    samples, stamps = [], []
    for s, t in zip(msg.samples, msg.ts_us, strict=True):
        if t <= top[0] and (t, s.seq) == top:
            run.duplicates += 1
            continue
        samples.append(s)
        stamps.append(t)
    if stamps and max(stamps) > top[0]:
        i = stamps.index(max(stamps))
        newest[eid] = (stamps[i], samples[i].seq)
    return Telemetry(samples, stamps) if samples else None


# -- scoring ---------------------------------------------------------------------------------

def _score(truth: list[dict[str, Any]], run: _Run, config: RulesConfig,
           elevator_hours: float, traces_by_record: dict[int, _Trace | None]
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


def _open_at(run: _Run, eid: str, kind: str, at_us: int) -> bool:
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


def _traces_by_record(truth: list[dict[str, Any]], run: _Run, ids: list[str]
                      ) -> dict[int, _Trace | None]:
    """The trace of each traced record: the fault's car and start fall inside it."""
    out: dict[int, _Trace | None] = {}
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


def evaluate(elevator_hours: float = 1000, seed: int = 1, *,
             elevators: int = DEFAULT_ELEVATORS, rate_hz: float = 1.0,
             fault_rate_per_h: float = DEFAULT_FAULT_RATE_PER_H,
             config: RulesConfig | None = None, output: Path | None = DEFAULT_OUTPUT,
             show_progress: bool = True, parallel: bool = True,
             include_events: bool = False) -> dict[str, Any]:
    """Run the simulator with injected faults through the engine; score the alerts.

    parallel runs the simulator in a second process (this machine has two cores).
    """
    config = config or load(None)
    hours = elevator_hours / elevators
    kwargs = {"elevators": elevators, "rate_hz": rate_hz, "seed": seed,
              "start_ts_ms": START_TS_MS, "duration_s": hours * 3600.0,
              "faults": f"all={fault_rate_per_h}/h,{MESSAGE_FAULTS}"}
    wall = time.perf_counter()
    cpu = time.process_time()
    source = _Source(kwargs, parallel)
    infos = _infos(source.registry)
    ids = [i.id for i in infos]
    engine = Engine(config, infos)
    total = int(hours * 3600.0 / source.period_s)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, disable=not show_progress, transient=True) as progress:
        run = _simulate(source, engine, infos, total, progress=progress)
    truth, unrealised = source.finish()
    result = _score(truth, run, config, elevator_hours, _traces_by_record(truth, run, ids))
    result["run"] = {
        "seed": seed, "elevators": elevators, "hours": round(hours, 3), "rate_hz": rate_hz,
        "fault_rate_per_kind_per_h": fault_rate_per_h, "messages": run.messages,
        "samples": run.samples, "rejected": run.rejected, "duplicates_dropped": run.duplicates,
        "transitions": run.transitions, "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s_this_process": round(time.process_time() - cpu, 1),
        "engine_cpu_s": round(run.engine_s, 1),
        "engine_samples_per_s": round(run.samples / run.engine_s) if run.engine_s else None,
        "unrealised_faults": unrealised}
    if include_events:  # for debugging: every fault and every raise
        result["truth"] = truth
        result["raises"] = [{"elevator_id": t.elevator_id, "kind": t.kind, "at_us": t.at_us,
                             "details": t.details} for t in run.raises]
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def render(result: dict[str, Any], console: Console | None = None) -> None:
    """Print the per-kind table and the summary."""
    console = console or Console()
    table = Table(title=f"Rules evaluation: {result['elevator_hours']:g} elevator-hours")
    for col in ("kind", "injected", "detected", "recall", "precision", "median latency s",
                "max latency s"):
        table.add_column(col, justify="left" if col == "kind" else "right")

    def fmt(v: Any, pct: bool = False) -> str:
        if v is None:
            return "-"
        return f"{100 * v:.1f}%" if pct else f"{v:g}"

    for kind, e in result["kinds"].items():
        table.add_row(kind, str(e["injected"]), str(e["detected"]), fmt(e["recall"], True),
                      fmt(e["precision"], True), fmt(e["median_latency_s"]),
                      fmt(e["max_latency_s"]))
    console.print(table)
    run = result.get("run", {})
    console.print(
        f"false alerts in normal service: {result['false_alerts']} "
        f"({result['false_alerts_per_1000h']:g} per 1,000 h over "
        f"{result['normal_service_hours']:g} h); collateral: "
        f"{len(result['collateral_alerts'])}; missed: {len(result['missed'])}")
    if run:
        console.print(
            f"{run['samples']:,} samples, {run['messages']:,} messages "
            f"({run['rejected']} rejected, {run['duplicates_dropped']} duplicate samples) in "
            f"{run['wall_s']} s; engine {run['engine_cpu_s']} s CPU = "
            f"{run['engine_samples_per_s']:,} samples/s")


def evaluate_command(
    elevator_hours: Annotated[float, typer.Option(help="simulated elevator-hours")] = 1000.0,
    seed: Annotated[int, typer.Option(help="seed of the simulated fleet and its faults")] = 1,
    elevators: Annotated[int, typer.Option(help="fleet size")] = DEFAULT_ELEVATORS,
    rate_hz: Annotated[float, typer.Option(help="samples per second per elevator")] = 1.0,
    fault_rate: Annotated[float, typer.Option(
        help="injected faults per kind per elevator-hour")] = DEFAULT_FAULT_RATE_PER_H,
    rules: Annotated[Path | None, typer.Option(help="rule file (default: built-in)")] = None,
    output: Annotated[Path, typer.Option(help="where to write the JSON result")
                      ] = DEFAULT_OUTPUT,
) -> None:
    """Replay a simulated fleet with injected faults through the rules; score the alerts."""
    result = evaluate(elevator_hours, seed, elevators=elevators, rate_hz=rate_hz,
                      fault_rate_per_h=fault_rate, config=load(rules), output=output)
    render(result)
    Console().print(f"written to {output}")
