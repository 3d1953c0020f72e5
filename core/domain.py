"""The vocabulary of the contract: organization kinds, car states, alert kinds and severities."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ELEVATOR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class OrgKind(StrEnum):
    """Who an organization is; decides which elevators its tokens see."""

    ADMIN = "admin"
    PROPERTY = "property"
    MAINTENANCE = "maintenance"
    SUPERVISION = "supervision"
    COMMUNITY = "community"
    STREET = "street"
    RESCUE = "rescue"


# These kinds see the elevators at sites in their district.
DISTRICT_KINDS = frozenset(
    {OrgKind.SUPERVISION, OrgKind.COMMUNITY, OrgKind.STREET, OrgKind.RESCUE})

DOOR_STATES = ("closed", "opening", "open", "closing")
POWER_SOURCES = ("mains", "backup", "none")
CAR_MODES = ("normal", "inspection", "maintenance", "fire", "out_of_service")


class Severity(StrEnum):
    """Alert severities, most severe first."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        """0 for critical ... 3 for warning."""
        return severity_rank(self.value)


# Most severe first; the position is the rank (also in SQL: storage.alerts).
SEVERITY_ORDER: tuple[str, ...] = tuple(s.value for s in Severity)
_SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITY_ORDER)}


def severity_rank(severity: str) -> int:
    """0 for critical ... 3 for warning; unknown severities sort last."""
    return _SEVERITY_RANK.get(severity, len(SEVERITY_ORDER))


class AlertKind(StrEnum):
    """The alert kinds of CONTRACT section 2."""

    TRAPPED_PASSENGER = "trapped_passenger"
    DOOR_OPEN_WHILE_MOVING = "door_open_while_moving"
    OVERSPEED = "overspeed"
    OVERRUN = "overrun"
    SAFETY_CIRCUIT_OPEN = "safety_circuit_open"
    POWER_LOSS = "power_loss"
    LEVELING_ERROR = "leveling_error"
    DOOR_FAULT = "door_fault"
    MOTOR_OVERHEAT = "motor_overheat"
    ABNORMAL_VIBRATION = "abnormal_vibration"
    ALARM_PRESSED = "alarm_pressed"
    OFFLINE = "offline"
    SEALED_IN_USE = "sealed_in_use"
    INSPECTION_OVERDUE = "inspection_overdue"
    MAINTENANCE_OVERDUE = "maintenance_overdue"


# Kinds Whistle raises beyond the contract (CONTRACT: "extend it freely").
EXTENSION_KINDS = ("door_closing_slow",)

DEFAULT_SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.TRAPPED_PASSENGER: Severity.CRITICAL,
    AlertKind.DOOR_OPEN_WHILE_MOVING: Severity.CRITICAL,
    AlertKind.OVERSPEED: Severity.CRITICAL,
    AlertKind.OVERRUN: Severity.CRITICAL,
    AlertKind.SAFETY_CIRCUIT_OPEN: Severity.MAJOR,
    AlertKind.POWER_LOSS: Severity.MAJOR,
    AlertKind.LEVELING_ERROR: Severity.MINOR,
    AlertKind.DOOR_FAULT: Severity.MAJOR,
    AlertKind.MOTOR_OVERHEAT: Severity.MAJOR,
    AlertKind.ABNORMAL_VIBRATION: Severity.MINOR,
    AlertKind.ALARM_PRESSED: Severity.MAJOR,
    AlertKind.OFFLINE: Severity.MAJOR,
    AlertKind.SEALED_IN_USE: Severity.CRITICAL,
    AlertKind.INSPECTION_OVERDUE: Severity.MINOR,
    AlertKind.MAINTENANCE_OVERDUE: Severity.MINOR,
}


class ElevatorStatus(StrEnum):
    """The status of an elevator, first that applies (CONTRACT section 3)."""

    OUT_OF_SERVICE = "out_of_service"
    OFFLINE = "offline"
    FAULT = "fault"
    WARNING = "warning"
    NORMAL = "normal"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ElevatorLimits:
    """What the ingester needs of a registered elevator to range-check its samples."""

    pk: int
    rated_load_kg: float
    travel_m: float
    landings_m: tuple[float, ...] = ()
    decommissioned: bool = False  # its messages are refused


def default_landings(min_floor: int, max_floor: int, travel_m: float) -> list[float]:
    """Landing sill heights evenly spaced over the travel, one per floor."""
    n = max_floor - min_floor
    return [round(travel_m * i / n, 3) for i in range(n + 1)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the API: an organization, through one of its people (a session or a
    person's token) or one of its tokens."""

    org_id: int | None  # None for the WHISTLE_ADMIN_TOKEN, which belongs to no row
    kind: OrgKind
    name: str
    district: str | None = None
    token_id: int | None = None
    token_label: str | None = None
    person_id: int | None = None
    person_name: str | None = None
    manager: bool = False
    session_id: int | None = None

    @property
    def is_admin(self) -> bool:
        """Admins see and may change everything."""
        return self.kind == OrgKind.ADMIN

    @property
    def who(self) -> str:
        """The person's name, else the token's label, else the token's number."""
        if self.person_name:
            return self.person_name
        if self.token_label:
            return self.token_label
        return f"token {self.token_id}" if self.token_id else "token"

    @property
    def actor(self) -> str:
        """How this caller is named in audit trails and every ``*_by`` field: the
        organization and the person or token label (``property:Riverside/Wang Li``)."""
        return f"{self.kind}:{self.name}/{self.who}"

    def manages(self, org_id: int) -> bool:
        """May create and remove the people and tokens of that organization."""
        return self.is_admin or (self.manager and self.org_id == org_id)
