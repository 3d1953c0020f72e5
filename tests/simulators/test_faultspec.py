"""The --faults syntax and scenario files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulators.durations import parse_duration, parse_rate
from simulators.faultspec import ALERT_FAULTS, load_scenario, parse_faults, parse_spec


def test_durations_and_rates() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90
    assert parse_duration("250ms") == 0.25
    assert parse_rate("2/d") == pytest.approx(2 / 24)
    assert parse_rate("1/min") == 60
    with pytest.raises(ValueError):
        parse_duration("10 minutes")


def test_inline_items_with_elevator_and_params() -> None:
    plan = parse_spec("trapped_passenger@2m:E0003[where=at_landing,duration=4m],"
                      "overspeed=0.5/h,bad_message=1/h[type=malformed]")
    first, second, third = plan.items
    assert (first.kind, first.at_s, first.elevator) == ("trapped_passenger", 120.0, "E0003")
    assert dict(first.params) == {"where": "at_landing", "duration": "4m"}
    assert (second.kind, second.rate_per_h) == ("overspeed", 0.5)
    assert third.params == {"type": "malformed"}


def test_all_expands_to_every_alert_kind() -> None:
    plan = parse_spec("all=0.1/h")
    assert [i.kind for i in plan.items] == list(ALERT_FAULTS)
    assert len(ALERT_FAULTS) == 13


@pytest.mark.parametrize(("spec", "message"), [
    ("teleport=1/h", "unknown fault kind"),
    ("overspeed=1/h[colour=red]", "no parameter colour"),
    ("inspection_overdue=1/h", "calendar rule"),
    ("overspeed", "cannot read"),
    ("bad_message=1/h[type=rude]", "type must be"),
])
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def test_rates_draw_about_the_expected_count_and_explicit_times_exactly() -> None:
    plan = parse_spec("alarm_pressed=2/h,door_fault@90s:E0002")
    ids = [f"E{i:04d}" for i in range(1, 51)]
    drawn = plan.draw(0.0, 3600.0, ids, np.random.default_rng(3))
    alarms = [d for d in drawn if d.kind == "alarm_pressed"]
    assert 70 <= len(alarms) <= 130  # Poisson with mean 100
    explicit = [d for d in drawn if d.kind == "door_fault"]
    assert [(d.t, d.car) for d in explicit] == [(90.0, 1)]


def test_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[fleet]\nelevators = 7\nfaults = "overspeed=1/h"\n\n'
                    '[[fault]]\nkind = "offline"\nat = "5m"\nelevator = "E0002"\n'
                    'params = { duration = "2m", reboot = true }\n')
    scenario = load_scenario(path)
    assert scenario.fleet["elevators"] == 7
    assert [i.kind for i in scenario.plan.items] == ["overspeed", "offline"]
    assert scenario.plan.items[1].params == {"duration": "2m", "reboot": "true"}
    assert parse_faults(str(path)).plan == scenario.plan


def test_shipped_scenarios_load() -> None:
    folder = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"
    files = sorted(folder.glob("*.toml"))
    assert files
    for f in files:
        assert load_scenario(f).plan
