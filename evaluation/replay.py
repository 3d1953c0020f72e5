"""Replay: every wire message decoded as the ingester would, fed to an in-process engine
one sample period at a time, with the raises and traces recorded."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from rich.progress import Progress

from core.codec import Reject, Telemetry, TelemetryDecoder, check_limits, decode_state
from core.codec import parse_topic as parse_wire_topic
from core.domain import ElevatorLimits
from core.stream import Committed
from evaluation.config import US
from evaluation.source import Source
from evaluation.traces import Trace
from rules.engine import ElevatorInfo, Engine, Transition


@dataclass
class Run:
    """Everything a run collects."""

    raises: list[Transition] = field(default_factory=list)
    clears: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (id, kind)
    transitions: int = 0
    traces: dict[tuple[int, float], Trace] = field(default_factory=dict)  # (car, armed at)
    trace_of: dict[tuple[int, float], int] = field(default_factory=dict)  # -> car
    messages: int = 0
    samples: int = 0
    rejected: int = 0
    duplicates: int = 0
    engine_s: float = 0.0


def simulate(source: Source, engine: Engine, infos: list[ElevatorInfo], total: int, *,
              progress: Progress | None) -> Run:
    run = Run()
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
                tr = run.traces.setdefault(key, Trace())
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
           run: Run) -> Telemetry | None:
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

