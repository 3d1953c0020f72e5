"""Run small fleets and decode their messages with the service's own codec."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from core.codec import Reject, TelemetryDecoder, decode_state
from simulators import Fleet, FleetConfig
from tests.simulators.reference import Elevator, Hits, evaluate

# 2023-11-14 07:00 UTC, a Tuesday morning: residential down-peak traffic
MORNING_MS = 1_699_945_200_000


@dataclass
class Run:
    """Everything a short fleet run produced, decoded."""

    fleet: Fleet
    samples: dict[str, list[Any]] = field(default_factory=lambda: collections.defaultdict(list))
    states: dict[str, list[tuple[int, str]]] = field(
        default_factory=lambda: collections.defaultdict(list))
    rejects: list[tuple[str, Reject]] = field(default_factory=list)
    raw: list[tuple[str, bytes, bool]] = field(default_factory=list)
    ground_truth: list[dict[str, Any]] = field(default_factory=list)

    def elevator(self, eid: str) -> Elevator:
        e = next(x for x in self.fleet.registry()["elevators"] if x["id"] == eid)
        return Elevator(e["rated_speed_mps"], e["landings_m"])

    def hits(self, eid: str) -> Hits:
        return evaluate(self.samples[eid], self.elevator(eid), self.states[eid])


def run_fleet(*, keep_raw: bool = False, **kwargs: Any) -> Run:
    """Run a fleet in fast mode to its end and decode every message."""
    kwargs.setdefault("start_ts_ms", MORNING_MS)
    fleet = Fleet(FleetConfig(**kwargs))
    run = Run(fleet)
    decoder = TelemetryDecoder()
    for tick_ms, msgs in fleet.messages():
        for topic, payload, retain in msgs:
            eid = topic.split("/")[1]
            if keep_raw:
                run.raw.append((topic, payload, retain))
            if topic.endswith("/state"):
                state, ts_us = decode_state(payload)
                run.states[eid].append((ts_us // 1000, state))
                continue
            try:
                telemetry = decoder.decode(payload, now_us=(tick_ms + 2000) * 1000)
            except Reject as exc:
                run.rejects.append((topic, exc))
                continue
            if eid not in fleet.ids:
                run.rejects.append((topic, Reject("unregistered_elevator", eid)))
                continue
            run.samples[eid].extend(telemetry.samples)
    run.ground_truth = fleet.close()
    return run
