"""Duty rosters (issue 15): who of an organization is on duty at an instant, defined once.

A roster is weekly shifts and one-off overrides. A shift runs on an ISO weekday
(1 = Monday) from ``starts`` to ``ends`` in its own IANA time zone; an end at or before the
start runs over midnight into the next day (equal: the full 24 hours). Local times are
made aware with :mod:`zoneinfo`, so a shift keeps its wall-clock hours across a change of
daylight saving time. An override covers an interval of instants: ``on_duty`` overrides
replace the weekly shifts while they last (a swap, a holiday duty); ``off`` overrides take
their person off duty (leave).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Override", "Shift", "in_quiet_hours", "on_duty", "zone"]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone; ValueError naming it if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone such as Asia/Shanghai") from None


@dataclass(frozen=True, slots=True)
class Shift:
    """A weekly shift of one person."""

    person_id: int
    weekday: int  # ISO: 1 = Monday ... 7 = Sunday
    starts: time
    ends: time
    time_zone: str

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The instants it covers when it starts on ``day`` (a day of its weekday)."""
        tz = zone(self.time_zone)
        begin = datetime.combine(day, self.starts, tz)
        end_day = day if self.ends > self.starts else day + timedelta(days=1)
        return begin, datetime.combine(end_day, self.ends, tz)

    def covers(self, at: datetime) -> bool:
        """True if ``at`` (aware) falls in this shift of its own week or of the day before
        (a shift that started yesterday evening)."""
        instant = at.astimezone(UTC)  # compare instants, never wall clocks of one zone
        local = at.astimezone(zone(self.time_zone)).date()
        for day in (local - timedelta(days=1), local):
            if day.isoweekday() == self.weekday:
                begin, end = self.window(day)
                if begin.astimezone(UTC) <= instant < end.astimezone(UTC):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class Override:
    """One-off: the person is on duty (instead of the weekly shifts) or off."""

    person_id: int
    starts_at: datetime
    ends_at: datetime
    on_duty: bool

    def covers(self, at: datetime) -> bool:
        """True while it lasts (start included, end excluded)."""
        return self.starts_at.astimezone(UTC) <= at.astimezone(UTC) < self.ends_at.astimezone(UTC)


def on_duty(shifts: Iterable[Shift], overrides: Iterable[Override], at: datetime
            ) -> tuple[list[int], str]:
    """(person ids on duty at ``at``, in roster order without repeats; where that came
    from: ``override``, ``roster`` or ``none``)."""
    if at.tzinfo is None:
        raise ValueError("the instant needs a time zone offset")
    current = [o for o in overrides if o.covers(at)]
    off = {o.person_id for o in current if not o.on_duty}
    instead = [o.person_id for o in current if o.on_duty and o.person_id not in off]
    if instead:
        return list(dict.fromkeys(instead)), "override"
    people = [s.person_id for s in shifts if s.covers(at) and s.person_id not in off]
    people = list(dict.fromkeys(people))
    return people, "roster" if people else "none"


def in_quiet_hours(start: time, end: time, tz: str, at: datetime) -> bool:
    """Whether ``at`` falls in a daily quiet period from ``start`` to ``end`` (wall-clock
    times in ``tz``; an end at or before the start runs over midnight, equal: all day)."""
    local = at.astimezone(zone(tz)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end
