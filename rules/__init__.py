"""The rules: detection on event time, the alert lifecycle, escalation, calendar rules and
notifications, run by :class:`RulesService`."""

from rules.engine import ElevatorInfo, Engine
from rules.service import RulesService
from rules.thresholds import RulesConfig
from rules.thresholds import load as load_thresholds
from rules.transitions import Transition

__all__ = ["ElevatorInfo", "Engine", "RulesConfig", "RulesService", "Transition",
           "load_thresholds"]
