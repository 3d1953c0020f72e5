"""Injectable faults: one per alert kind of the contract, each with its telemetry signature,
in modules that mirror ``rules/detectors`` (see :mod:`simulators.faults.base` for how a
fault is armed, acts on its car and records its ground truth)."""

from __future__ import annotations

from simulators.faults.base import Fault, FaultContext
from simulators.faults.doors import DoorFault, DoorOpenWhileMoving
from simulators.faults.equipment import (
    AlarmPressed,
    MotorOverheat,
    Offline,
    PowerLoss,
    SafetyCircuitOpen,
    SealedInUse,
)
from simulators.faults.leveling import LevelingError
from simulators.faults.motion import Overrun, Overspeed
from simulators.faults.trapped import TrappedPassenger
from simulators.faults.vibration import AbnormalVibration

FAULTS: dict[str, type[Fault]] = {cls.kind: cls for cls in (
    TrappedPassenger, DoorOpenWhileMoving, Overspeed, Overrun, SafetyCircuitOpen, PowerLoss,
    LevelingError, DoorFault, MotorOverheat, AbnormalVibration, AlarmPressed, Offline,
    SealedInUse)}

__all__ = [
    "FAULTS",
    "AbnormalVibration",
    "AlarmPressed",
    "DoorFault",
    "DoorOpenWhileMoving",
    "Fault",
    "FaultContext",
    "LevelingError",
    "MotorOverheat",
    "Offline",
    "Overrun",
    "Overspeed",
    "PowerLoss",
    "SafetyCircuitOpen",
    "SealedInUse",
    "TrappedPassenger",
]
