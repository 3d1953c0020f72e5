"""What the rules decide about alerts, before it is written: one shape for the detection
engine and the calendar rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Transition"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of an alert that the lifecycle turns into a stored alert."""

    elevator_id: str
    elevator_pk: int
    kind: str  # an AlertKind value (or an extension kind)
    action: Literal["raise", "update", "clear"]
    at_us: int  # event time (epoch us) when the condition was met / cleared
    severity: str  # Severity value (from config; default DEFAULT_SEVERITY)
    details: dict[str, Any]  # JSON-able
