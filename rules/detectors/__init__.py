"""The detectors: each evaluates some alert kinds on a round of samples (see base.Round)."""

from __future__ import annotations

from collections.abc import Callable

from rules.detectors import doors, equipment, leveling, motion, trapped, vibration
from rules.detectors.base import Alerts, Round

Step = Callable[[Round, Alerts], None]

# Order matters only for details: every detector sees the same round.
DETECTORS: tuple[Step, ...] = (motion.step, equipment.step, trapped.step, doors.step,
                               leveling.step, vibration.step)
