"""What flows from the ingester to the rules engine when both run in one process."""

from __future__ import annotations

from dataclasses import dataclass

from core.codec import Telemetry


@dataclass(frozen=True, slots=True)
class Committed:
    """Accepted, committed messages of one batch, in arrival order."""

    messages: list[tuple[str, int, Telemetry]]  # (elevator_id, elevator_pk, samples)
    states: list[tuple[str, int, str, int]]  # (elevator_id, elevator_pk, state, ts_us)
