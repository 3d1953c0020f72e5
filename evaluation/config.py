"""The evaluation's fixed settings: fleet size, fault rates, matching windows."""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUTPUT = Path("bench/results/evaluation.json")
START_TS_MS = 1_741_071_600_000  # Tuesday 2025-03-04 07:00 UTC: a working day's traffic
DEFAULT_ELEVATORS = 500  # x 2 h: rounds of 500 samples keep the engine's overhead low
DEFAULT_FAULT_RATE_PER_H = 0.03  # per kind and elevator-hour: about 30 faults of each kind
MESSAGE_FAULTS = "bad_message=0.05/h,duplicate=0.05/h"
MATCH_BEFORE_S = 5.0
MATCH_AFTER_S = 60.0
COLLATERAL_AFTER_S = 300.0  # a fault's after-effects (a car returning to service)
CHUNK_TICKS = 20  # ticks sent at once from the simulator process
NOT_INJECTED = ("bad_message", "duplicate", "inspection_overdue", "maintenance_overdue")
# kinds whose deciding moment is found in the telemetry (see reference_time)
TRACED = ("door_fault", "leveling_error", "abnormal_vibration", "sealed_in_use")
US = 1_000_000
