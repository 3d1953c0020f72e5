"""The simulate command: fast mode to a file, ground truth, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from simulators.cli import simulate
from simulators.groundtruth import read_ground_truth
from simulators.runner import read_recording

app = typer.Typer()
app.command()(simulate)


def test_fast_mode_writes_a_recording_and_ground_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "rec.jsonl", tmp_path / "truth.jsonl"
    result = CliRunner().invoke(app, [
        "--elevators", "4", "--duration", "3m", "--fast", "--seed", "3", "--out", str(out),
        "--ground-truth", str(truth), "--faults", "alarm_pressed@30s:E0002,bad_message@20s",
        "--topic-prefix", "t-x/", "--batch", "10", "--no-progress"])
    assert result.exit_code == 0, result.output
    ticks = list(read_recording(out))
    assert ticks[0][1][0][0] == "t-x/lift/E0001/state"
    telemetry = [json.loads(p) for _, msgs in ticks for t, p, _ in msgs
                 if t.endswith("/telemetry") and p.startswith(b"[")]
    assert telemetry and all(len(batch) <= 10 for batch in telemetry)
    kinds = sorted(r["kind"] for r in read_ground_truth(truth))
    assert kinds == ["alarm_pressed", "bad_message"]


def test_bad_fault_spec_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["--fast", "--duration", "1m", "--faults", "teleport=1/h"])
    assert result.exit_code == 2
    assert "unknown fault kind" in result.output


def test_fast_needs_a_duration() -> None:
    result = CliRunner().invoke(app, ["--fast", "--out", "x.jsonl"])
    assert result.exit_code == 2 and "duration" in result.output
