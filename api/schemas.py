"""Request bodies of the HTTP API; each refusal names its field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.domain import OrgKind, default_landings

Name = Annotated[str, Field(min_length=1, max_length=200)]

# Times and dates the service works with: wide enough for any record, narrow enough that
# no arithmetic on them (a default range, a day added, a time zone) leaves Python's range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "outside the supported range (1970-01-01 to 9998-12-31, UTC)"


def _instant(v: datetime) -> datetime:
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)  # a time without an offset is UTC
    try:
        utc = v.astimezone(UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(OUT_OF_RANGE)
    return v


def _day(v: date) -> date:
    if not EARLIEST.date() <= v < LATEST.date():
        raise ValueError(OUT_OF_RANGE)
    return v


# An RFC 3339 time (naive: UTC) in the supported range; out of it a 422 naming the field.
Instant = Annotated[datetime, AfterValidator(_instant)]
# A calendar date in the supported range.
Day = Annotated[date, AfterValidator(_day)]


class Body(BaseModel):
    """Bodies refuse unknown fields, so a typo is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrgCreate(Body):
    """POST /orgs."""

    name: Name
    kind: OrgKind
    district: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class SiteCreate(Body):
    """POST /sites."""

    name: Name
    address: Annotated[str, Field(min_length=1, max_length=500)]
    district: Name
    property_org_id: int


class ElevatorCreate(Body):
    """POST /elevators."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    site_id: int
    name: Name
    rated_speed_mps: Annotated[float, Field(gt=0, le=20)]
    rated_load_kg: Annotated[float, Field(gt=0, le=100_000)]
    min_floor: Annotated[int, Field(ge=-100, le=500)]
    max_floor: Annotated[int, Field(ge=-100, le=500)]
    travel_m: Annotated[float, Field(gt=0, le=2000)]
    landings_m: list[Annotated[float, Field(ge=0, le=2000)]] | None = None
    model: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    maintenance_org_id: int | None = None
    next_inspection_due: Day | None = None
    registration_code: Annotated[str, Field(
        pattern=r"^[0-9A-Za-z]{20}$",
        description="the 20-character equipment registration code (使用登记证编号)")] | None = None
    rescue_code: Annotated[str, Field(
        pattern=r"^[0-9]{5,6}$",
        description="the 5 or 6 digits on the car's emergency sign (应急救援码), unique in "
                    "its district")] | None = None

    @field_validator("registration_code")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        return v.upper() if v is not None else v

    @field_validator("max_floor")
    @classmethod
    def _above_min(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min_floor")
        if low is not None and v <= low:
            raise ValueError(f"must be greater than min_floor ({low})")
        return v

    @field_validator("landings_m")
    @classmethod
    def _one_per_floor(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if v is None:
            return v
        low, high = info.data.get("min_floor"), info.data.get("max_floor")
        if low is not None and high is not None and len(v) != high - low + 1:
            raise ValueError(f"needs one height per floor from {low} to {high} "
                             f"({high - low + 1} values), got {len(v)}")
        if any(b <= a for a, b in pairwise(v)):
            raise ValueError("heights must increase from the lowest landing up")
        if v and v[0] != 0:
            raise ValueError("the lowest landing is the reference: its height must be 0")
        travel = info.data.get("travel_m")
        if travel is not None and v and abs(v[-1] - travel) > 0.5:
            raise ValueError(f"the top landing ({v[-1]} m) must match travel_m ({travel} m)")
        return v

    def landings(self) -> list[float]:
        """The given landing heights, or evenly spaced ones."""
        return self.landings_m or default_landings(self.min_floor, self.max_floor,
                                                   self.travel_m)


class Handover(Body):
    """POST /elevators/{id}/handover."""

    property_org_id: int
    effective_at: Instant | None = None


def iso(value: Any) -> Any:
    """Datetimes as RFC 3339 strings, the rest unchanged."""
    return value.isoformat() if isinstance(value, datetime | date) else value


class ElevatorPatch(Body):
    """PATCH /elevators/{id}: the fields to change (others stay)."""

    name: Name | None = None
    model: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    maintenance_org_id: int | None = None
    next_inspection_due: date | None = None
    rated_speed_mps: Annotated[float, Field(gt=0, le=20)] | None = None
    rated_load_kg: Annotated[float, Field(gt=0, le=100_000)] | None = None
    registration_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{20}$")] | None = None
    rescue_code: Annotated[str, Field(pattern=r"^[0-9]{5,6}$")] | None = None

    @field_validator("registration_code")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        return v.upper() if v is not None else v
