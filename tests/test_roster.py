"""Who is on duty (core.roster): weekly shifts in their own time zone, over midnight,
across a change of daylight saving time, and one-off overrides."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.roster import Override, Shift, in_quiet_hours, on_duty, zone

SH = ZoneInfo("Asia/Shanghai")
NIGHT = Shift(person_id=2, weekday=1, starts=time(20), ends=time(8), time_zone="Asia/Shanghai")
DAY = Shift(person_id=1, weekday=1, starts=time(8), ends=time(20), time_zone="Asia/Shanghai")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def test_a_day_shift_covers_its_hours_and_no_more():
    # 2026-12-07 is a Monday
    assert on_duty([DAY], [], at(2026, 12, 7, 8)) == ([1], "roster")
    assert on_duty([DAY], [], at(2026, 12, 7, 19, 59)) == ([1], "roster")
    assert on_duty([DAY], [], at(2026, 12, 7, 20)) == ([], "none")  # the end is excluded
    assert on_duty([DAY], [], at(2026, 12, 8, 9)) == ([], "none")  # Tuesday


def test_a_shift_over_midnight_runs_into_the_next_day():
    assert on_duty([NIGHT], [], at(2026, 12, 7, 23)) == ([2], "roster")
    assert on_duty([NIGHT], [], at(2026, 12, 8, 3)) == ([2], "roster")  # Tuesday 03:00
    assert on_duty([NIGHT], [], at(2026, 12, 8, 8)) == ([], "none")
    assert on_duty([NIGHT], [], at(2026, 12, 7, 3)) == ([], "none")  # Monday 03:00: Sunday's


def test_the_shift_is_in_its_own_time_zone_whatever_the_instant_s_offset():
    # Monday 09:00 in Shanghai is Monday 01:00 UTC
    assert on_duty([DAY], [], datetime(2026, 12, 7, 1, tzinfo=UTC)) == ([1], "roster")
    assert on_duty([DAY], [], datetime(2026, 12, 6, 23, tzinfo=UTC)) == ([], "none")
    berlin = Shift(person_id=3, weekday=7, starts=time(22), ends=time(6),
                   time_zone="Europe/Berlin")
    # Sunday 22:00 Berlin (CET, +01:00) is Monday 05:00 in Shanghai
    assert on_duty([berlin], [], at(2026, 12, 14, 5, 30)) == ([3], "roster")
    assert on_duty([berlin], [], at(2026, 12, 14, 4, 30)) == ([], "none")


def test_a_shift_keeps_its_wall_clock_hours_across_daylight_saving_time():
    ny = Shift(person_id=4, weekday=7, starts=time(0), ends=time(6),
               time_zone="America/New_York")
    # 2026-03-08 (Sunday): clocks jump from 02:00 to 03:00; the shift is 5 hours long
    begin = datetime(2026, 3, 8, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    assert on_duty([ny], [], begin + timedelta(hours=4, minutes=59)) == ([4], "roster")
    assert on_duty([ny], [], begin + timedelta(hours=5)) == ([], "none")


def test_equal_start_and_end_is_the_whole_day():
    whole = Shift(person_id=5, weekday=3, starts=time(9), ends=time(9), time_zone="UTC")
    wed = datetime(2026, 12, 9, 9, tzinfo=UTC)
    assert on_duty([whole], [], wed + timedelta(hours=23, minutes=59))[0] == [5]
    assert on_duty([whole], [], wed + timedelta(hours=24))[0] == []


def test_an_override_on_duty_replaces_the_shifts_and_off_takes_a_person_off():
    start, end = at(2026, 12, 7, 12), at(2026, 12, 7, 14)
    swap = Override(person_id=9, starts_at=start, ends_at=end, on_duty=True)
    leave = Override(person_id=1, starts_at=start, ends_at=end, on_duty=False)
    both = [DAY, Shift(person_id=6, weekday=1, starts=time(8), ends=time(20),
                       time_zone="Asia/Shanghai")]
    assert on_duty(both, [swap], at(2026, 12, 7, 13)) == ([9], "override")
    assert on_duty(both, [leave], at(2026, 12, 7, 13)) == ([6], "roster")
    assert on_duty([DAY], [leave], at(2026, 12, 7, 13)) == ([], "none")
    assert on_duty(both, [swap, leave], at(2026, 12, 7, 14)) == ([1, 6], "roster")  # over


def test_a_naive_instant_and_an_unknown_zone_are_refused():
    with pytest.raises(ValueError, match="offset"):
        on_duty([DAY], [], datetime(2026, 12, 7, 9))
    with pytest.raises(ValueError, match="IANA"):
        zone("Mars/Olympus")


def test_quiet_hours_over_midnight_and_in_their_own_zone():
    utc = ZoneInfo("UTC")
    night = (time(22), time(7), "Asia/Shanghai")
    assert in_quiet_hours(*night, at(2026, 12, 7, 14, 30, utc))  # 22:30 in Shanghai
    assert in_quiet_hours(*night, at(2026, 12, 7, 22, 59, utc))  # 06:59 the next morning
    assert not in_quiet_hours(*night, at(2026, 12, 7, 23, 0, utc))  # 07:00: over
    assert not in_quiet_hours(*night, at(2026, 12, 7, 5, 0, utc))  # 13:00
    lunch = (time(12), time(13, 30), "Europe/Berlin")
    assert in_quiet_hours(*lunch, at(2026, 12, 7, 11, 15, utc))  # 12:15 in Berlin (UTC+1)
    assert not in_quiet_hours(*lunch, at(2026, 12, 7, 12, 45, utc))
    assert in_quiet_hours(time(9), time(9), "UTC", at(2026, 12, 7, 3, 0, utc))  # all day
