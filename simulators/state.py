"""The per-car quantities that telemetry reports, as numpy arrays indexed by car."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulators.motion import MotionTable

CLOSED, OPENING, OPEN, CLOSING = 0, 1, 2, 3
MAINS, BACKUP, NO_POWER = 0, 1, 2
NORMAL, INSPECTION, MAINTENANCE, FIRE, OUT_OF_SERVICE = 0, 1, 2, 3, 4

THERMAL_TAU_S = 1500.0  # traction motor thermal time constant


class FleetState:
    """Arrays of car state; cars write them on events, the sampler reads them every tick."""

    def __init__(self, positions: NDArray[np.float64], ambient_c: NDArray[np.float64]) -> None:
        n = len(positions)
        self.motion = MotionTable(positions)
        self.next_evt = np.full(n, np.inf)
        self.door = np.zeros(n, dtype=np.int8)
        self.lock = np.ones(n, dtype=bool)
        self.load = np.zeros(n)
        self.npass = np.zeros(n, dtype=np.int32)
        self.alarm = np.zeros(n, dtype=bool)
        self.safety = np.ones(n, dtype=bool)
        self.power = np.zeros(n, dtype=np.int8)
        self.mode = np.zeros(n, dtype=np.int8)
        self.wear = np.ones(n)  # vibration multiplier: 1 for a car in good condition
        self.heat_extra = np.zeros(n)  # K added to the motor's steady temperature by a fault
        self.tau = np.full(n, THERMAL_TAU_S)
        self.ambient = ambient_c.copy()
        self.temp = ambient_c + 6.0
        self.online = np.ones(n, dtype=bool)
        self.fault_code: dict[int, str] = {}
        # (time, car, "online" | "offline") state messages waiting for the next tick
        self.state_events: list[tuple[float, int, str]] = []
        self.reboots: set[int] = set()  # cars whose device restarts its seq at 0
