"""Rule files: defaults, profiles, overrides; refused files name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.domain import DEFAULT_SEVERITY
from rules import thresholds as config
from rules.state import KINDS
from rules.thresholds import RulesConfig, RulesConfigError, Watcher


def _error(text: str) -> str:
    with pytest.raises(RulesConfigError) as exc:
        config.loads(text, "/etc/whistle/rules.toml")
    return str(exc.value)


def test_defaults_follow_the_contract() -> None:
    cfg = config.load(None)
    for kind, severity in DEFAULT_SEVERITY.items():
        assert cfg.severity(kind.value) == severity.value
    assert set(KINDS) <= set(cfg.kinds)
    rules = cfg.rules
    assert rules["trapped_passenger"]["duration_s"] == 30.0
    assert rules["overspeed"]["factor"] == 1.15
    assert rules["motor_overheat"]["clear_hold_s"] == 300.0
    assert rules["offline"]["timeout_s"] == 90.0
    assert rules["door_closing_slow"]["severity"] == "warning"
    assert "inspection" in rules["safety_circuit_open"]["suppress_in"]
    assert cfg.engine.gap_tolerance_s == 2.0


def test_a_syntax_error_names_file_line_and_column() -> None:
    msg = _error('[rules.overspeed]\nfactor = 1.2\nclear_factor = = 1\n')
    assert msg.startswith("/etc/whistle/rules.toml:3: ")
    assert "column" in msg


def test_an_unclosed_array_at_the_end_names_the_last_line() -> None:
    assert _error('[rules.door_fault]\nsuppress_in = ["fire",\n').startswith(
        "/etc/whistle/rules.toml:2: ")


def test_an_unknown_kind_names_its_table_line() -> None:
    msg = _error('# rules\n\n[rules.overspeed]\nfactor = 1.2\n\n[rules.overspeeed]\nfactor = 1\n')
    assert msg.startswith("/etc/whistle/rules.toml:6: unknown alert kind 'overspeeed'")


def test_an_unknown_key_names_its_line() -> None:
    msg = _error('[models."RES-2.0".trapped_passenger]\nduration_s = 20\nzone_m = 0.3\n')
    assert msg.startswith("/etc/whistle/rules.toml:3: unknown key 'zone_m' for "
                          "trapped_passenger")


def test_a_wrong_type_names_its_line() -> None:
    msg = _error('[elevators.E0001.motor_overheat]\n\nthreshold_c = "hot"\n')
    assert msg == ("/etc/whistle/rules.toml:3: threshold_c must be a number, "
                   "got str 'hot'")


def test_a_negative_duration_is_refused() -> None:
    msg = _error('[rules.power_loss]\nseverity = "major"\nduration_s = -10\n')
    assert msg == ("/etc/whistle/rules.toml:3: a duration cannot be negative "
                   "(duration_s = -10)")


def test_a_dotted_key_is_located_too() -> None:
    msg = _error('[rules]\nalarm_pressed.duration_s = 5\nalarm_pressed.colour = "red"\n')
    assert msg.startswith("/etc/whistle/rules.toml:3: unknown key 'colour'")


@pytest.mark.parametrize(("text", "line", "words"), [
    ('[rules.alarm_pressed]\nseverity = "urgent"\n', 2, "severity must be one of"),
    ('[rules.door_fault]\nsuppress_in = ["fire", "party"]\n', 2, "unknown car mode 'party'"),
    ('[rules.door_fault]\nreversals = 4.5\n', 2, "must be a whole number"),
    ('[rules.door_fault]\nenabled = "yes"\n', 2, "must be true or false"),
    ('[engine]\ngap_tolerance_s = 2\nturbo = true\n', 3, "unknown engine setting 'turbo'"),
    ('[alerts]\nx = 1\n', 1, "unknown section 'alerts'"),
    ('rules = 3\n', 1, "rules must be a table"),
])
def test_other_schema_errors(text: str, line: int, words: str) -> None:
    msg = _error(text)
    assert msg.startswith(f"/etc/whistle/rules.toml:{line}: ")
    assert words in msg


def test_profiles_layer_rules_then_model_then_elevator() -> None:
    cfg = config.loads(
        '[rules.overspeed]\nfactor = 1.2\n'
        '[models."OFF-2.5".overspeed]\nfactor = 1.1\nclear_hold_s = 20\n'
        '[elevators.E7.overspeed]\nfactor = 1.3\n', "r.toml")
    assert cfg.profile("E1", None)["overspeed"]["factor"] == 1.2
    assert cfg.profile("E1", "OFF-2.5")["overspeed"]["factor"] == 1.1
    e7 = cfg.profile("E7", "OFF-2.5")["overspeed"]
    assert (e7["factor"], e7["clear_hold_s"]) == (1.3, 20.0)
    assert cfg.profile("E7", None)["overspeed"]["clear_hold_s"] == 10.0


def test_calendar_kinds_take_a_severity() -> None:
    cfg = config.loads('[rules.inspection_overdue]\nseverity = "major"\n', "r.toml")
    assert cfg.severity("inspection_overdue") == "major"
    msg = _error('[rules.maintenance_overdue]\nduration_s = 1\n')
    assert msg.startswith("/etc/whistle/rules.toml:2: unknown key 'duration_s'")


# -- reload ---------------------------------------------------------------------------------


class _Files:
    """A fake file system for the watcher: a modification time and a loader per version."""

    def __init__(self) -> None:
        self.mtime: float | None = 1.0
        self.text = ""

    def stat(self, _path: Path) -> float | None:
        return self.mtime

    def load(self, path: Path) -> RulesConfig:
        return config.loads(self.text, str(path))


def test_the_watcher_hands_over_each_good_new_version() -> None:
    files = _Files()
    seen: list[RulesConfig] = []
    errors: list[RulesConfigError] = []
    w = Watcher(Path("rules.toml"), seen.append, on_error=errors.append, mtime=files.stat,
                loader=files.load)
    assert w.poll() is False  # unchanged since the watcher started
    files.text, files.mtime = "[rules.overspeed]\nfactor = 1.25\n", 2.0
    assert w.poll() is True
    assert seen[-1].rules["overspeed"]["factor"] == 1.25
    files.text, files.mtime = "[rules.overspeed]\nfactor = fast\n", 3.0
    assert w.poll() is False
    assert len(seen) == 1 and str(errors[0]).startswith("rules.toml:2: ")
    assert w.poll() is False  # the broken version is reported once
