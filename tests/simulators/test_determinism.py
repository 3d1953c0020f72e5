"""The same seed gives the same fleet, traffic, faults and bytes; another seed does not."""

from __future__ import annotations

import hashlib

from simulators.fleet import Fleet, FleetConfig
from tests.simulators.helpers import MORNING_MS


def _digest(seed: int) -> tuple[str, list[dict[str, object]], dict[str, object]]:
    fleet = Fleet(FleetConfig(elevators=8, seed=seed, duration_s=900, start_ts_ms=MORNING_MS,
                              faults="all=2/h,bad_message=4/h,duplicate=4/h"))
    h = hashlib.sha256()
    for tick_ms, msgs in fleet.messages():
        h.update(str(tick_ms).encode())
        for topic, payload, retain in msgs:
            h.update(topic.encode() + payload + bytes([retain]))
    return h.hexdigest(), fleet.close(), fleet.registry()


def test_same_seed_same_everything() -> None:
    first, second = _digest(21), _digest(21)
    assert first == second
    assert len(first[1]) >= 5  # the faults really happened


def test_another_seed_differs() -> None:
    a, b = _digest(21), _digest(22)
    assert a[0] != b[0]
    assert a[1] != b[1]
