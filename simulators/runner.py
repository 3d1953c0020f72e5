"""Drive a fleet: in real time to a broker, as fast as possible to a broker or a file."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from simulators.fleet import Fleet, Message
from simulators.groundtruth import GroundTruthWriter
from simulators.publisher import Publisher

SLOTS_PER_PERIOD = 20  # a period's messages go out in this many bursts, spread over it


@dataclass
class RunStats:
    """What a run did."""

    ticks: int = 0
    messages: int = 0
    samples: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    faults: int = 0


@contextmanager
def _progress(fleet: Fleet, enabled: bool) -> Iterator[tuple[Progress, TaskID]]:
    duration = fleet.config.duration_s
    total = int(duration / fleet.period_s) if duration else None
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    with Progress(*columns, disable=not enabled, transient=False) as progress:
        task = progress.add_task("simulating", total=total, info="")
        yield progress, task


def _info(stats: RunStats, fleet: Fleet) -> str:
    rate = stats.messages / stats.wall_s if stats.wall_s else 0.0
    return (f"{len(fleet.cars)} elevators  {stats.messages:,} msgs ({rate:,.0f}/s)  "
            f"{len(fleet.ground_truth)} truth records")


def _count_samples(msgs: list[Message], batch: int) -> int:
    return sum(1 for topic, _, _ in msgs if topic.endswith("/telemetry")) * batch


def run_realtime(fleet: Fleet, publisher: Publisher, *, truth: GroundTruthWriter | None = None,
                 progress: bool = True) -> RunStats:
    """Publish tick by tick at wall-clock pace; each tick's messages spread over the period."""
    stats = RunStats()
    cpu0, wall0 = time.process_time(), time.monotonic()
    period = fleet.period_s
    with _progress(fleet, progress) as (bar, task):
        for k, (_, msgs) in enumerate(fleet.messages()):
            due = wall0 + k * period
            slots = max(1, min(SLOTS_PER_PERIOD, len(msgs)))
            size = -(-len(msgs) // slots)
            for j in range(slots):
                at = due + j * period / slots
                while (wait := at - time.monotonic()) > 0:
                    publisher.poll(wait)
                publisher.send(msgs[j * size:(j + 1) * size])
            stats.ticks += 1
            stats.messages += len(msgs)
            stats.samples += _count_samples(msgs, fleet.config.batch)
            if truth is not None:
                stats.faults += truth.write_new(fleet.ground_truth)
            stats.wall_s = time.monotonic() - wall0
            if k % max(1, int(1 / period)) == 0:
                bar.update(task, completed=k + 1, info=_info(stats, fleet))
        publisher.flush()
    stats.wall_s = time.monotonic() - wall0
    stats.cpu_s = time.process_time() - cpu0
    return stats


def run_fast(fleet: Fleet, *, publisher: Publisher | None = None, out: IO[bytes] | None = None,
             topic_prefix: str = "", truth: GroundTruthWriter | None = None,
             progress: bool = True) -> RunStats:
    """Generate as fast as the CPU allows, to a broker or to a JSONL file (or both)."""
    stats = RunStats()
    cpu0, wall0 = time.process_time(), time.monotonic()
    encoder = msgspec.json.Encoder()
    with _progress(fleet, progress) as (bar, task):
        for k, (tick_ms, msgs) in enumerate(fleet.messages()):
            if publisher is not None:
                publisher.send(msgs)
                publisher.poll(0.0)
            if out is not None:
                out.write(b"".join(encoder.encode(_line(tick_ms, topic_prefix, m)) + b"\n"
                                   for m in msgs))
            stats.ticks += 1
            stats.messages += len(msgs)
            stats.samples += _count_samples(msgs, fleet.config.batch)
            if truth is not None:
                stats.faults += truth.write_new(fleet.ground_truth)
            if k % 200 == 0:
                stats.wall_s = time.monotonic() - wall0
                bar.update(task, completed=k + 1, info=_info(stats, fleet))
        bar.update(task, completed=stats.ticks)
        if publisher is not None:
            publisher.flush()
    stats.wall_s = time.monotonic() - wall0
    stats.cpu_s = time.process_time() - cpu0
    return stats


def _line(tick_ms: int, prefix: str, msg: Message) -> dict[str, object]:
    topic, payload, retain = msg
    line: dict[str, object] = {"ts": tick_ms, "topic": prefix + topic, "retain": retain}
    try:
        line["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        line["payload_b64"] = base64.b64encode(payload).decode("ascii")
    return line


class _Line(msgspec.Struct):
    ts: int
    topic: str
    retain: bool = False
    payload: str | None = None
    payload_b64: str | None = None


def read_recording(path: str | Path) -> Iterator[tuple[int, list[Message]]]:
    """Ticks of a recording written by fast mode: (tick ms, [(topic, payload, retain)])."""
    dec = msgspec.json.Decoder(_Line)
    tick: list[Message] = []
    current: int | None = None
    with Path(path).open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            line = dec.decode(raw)
            payload = (line.payload.encode("utf-8") if line.payload is not None
                       else base64.b64decode(line.payload_b64 or ""))
            if current is not None and line.ts != current:
                yield current, tick
                tick = []
            current = line.ts
            tick.append((line.topic, payload, line.retain))
    if current is not None:
        yield current, tick


def replay(path: str | Path, publisher: Publisher, *, realtime: bool = False) -> RunStats:
    """Publish a recording (topics as recorded), at its own pace or as fast as possible."""
    stats = RunStats()
    cpu0, wall0 = time.process_time(), time.monotonic()
    first: int | None = None
    for tick_ms, msgs in read_recording(path):
        first = tick_ms if first is None else first
        if realtime:
            while (wait := wall0 + (tick_ms - first) / 1000.0 - time.monotonic()) > 0:
                publisher.poll(wait)
        publisher.send(msgs, raw=True)
        stats.ticks += 1
        stats.messages += len(msgs)
    publisher.flush()
    stats.wall_s = time.monotonic() - wall0
    stats.cpu_s = time.process_time() - cpu0
    return stats
