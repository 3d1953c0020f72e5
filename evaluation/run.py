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
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evaluation.config import (
    DEFAULT_ELEVATORS,
    DEFAULT_FAULT_RATE_PER_H,
    DEFAULT_OUTPUT,
    MESSAGE_FAULTS,
    START_TS_MS,
)
from evaluation.replay import simulate
from evaluation.scoring import _traces_by_record, score
from evaluation.source import Source, _infos
from rules.engine import Engine
from rules.thresholds import RulesConfig, load


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
    source = Source(kwargs, parallel)
    infos = _infos(source.registry)
    ids = [i.id for i in infos]
    engine = Engine(config, infos)
    total = int(hours * 3600.0 / source.period_s)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, disable=not show_progress, transient=True) as progress:
        run = simulate(source, engine, infos, total, progress=progress)
    truth, unrealised = source.finish()
    result = score(truth, run, config, elevator_hours, _traces_by_record(truth, run, ids))
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
