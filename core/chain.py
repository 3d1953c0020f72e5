"""The chain of responsibility an alert (and, later, a case) climbs: one definition.

Level 0 is the elevator's current property organization, 1 its maintenance organization,
2 the community and street organizations of the site's district, 3 the district's
supervision department (CONTRACT section 3). Who is *called* at each change, and which
level comes next when a level has nobody to call, are decided here; storage turns the
levels into organizations, the rules climb them, the dashboard shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from core.domain import OrgKind

__all__ = ["LEVEL_KINDS", "LEVEL_NAMES", "MAX_LEVEL", "Level", "called_levels", "next_level",
           "reach"]


class Level(IntEnum):
    """The levels of the chain."""

    PROPERTY = 0
    MAINTENANCE = 1
    COMMUNITY_AND_STREET = 2
    SUPERVISION = 3


MAX_LEVEL = int(max(Level))

# Which organizations answer at each level (district kinds: those of the site's district).
LEVEL_KINDS: dict[Level, tuple[OrgKind, ...]] = {
    Level.PROPERTY: (OrgKind.PROPERTY,),
    Level.MAINTENANCE: (OrgKind.MAINTENANCE,),
    Level.COMMUNITY_AND_STREET: (OrgKind.COMMUNITY, OrgKind.STREET),
    Level.SUPERVISION: (OrgKind.SUPERVISION,),
}

LEVEL_NAMES: dict[int, str] = {
    Level.PROPERTY: "property", Level.MAINTENANCE: "maintenance",
    Level.COMMUNITY_AND_STREET: "community and street", Level.SUPERVISION: "supervision",
}

def called_levels(escalation_level: int) -> set[int]:
    """Levels told so far: property and maintenance at once, then each step up."""
    return {Level.PROPERTY, Level.MAINTENANCE} | set(range(int(escalation_level or 0) + 1))


def next_level(*, current: int, levels_present: Iterable[int], max_level: int = MAX_LEVEL
               ) -> int:
    """The next level up that has someone to call (max_level if none has)."""
    present = set(levels_present)
    for level in range(current + 1, max_level + 1):
        if level in present:
            return level
    return max_level


def reach(*, change: str, level: int, new_level: int | None = None) -> set[int]:
    """The levels to tell about a change of an alert at ``level``.

    Raised: property and maintenance. Escalated (to ``new_level``): everyone up to the new
    level. Unsilenced (a silence that held its notifications is over): everyone up to its
    level. Acknowledged, arrived, resolved: everyone called so far. A late rescue: also
    supervision. Anything else: nobody.
    """
    if change == "raised":
        return {Level.PROPERTY, Level.MAINTENANCE}
    if change == "escalated":
        return set(range((level if new_level is None else new_level) + 1))
    if change == "unsilenced":  # a silence is over: everyone the alert has reached
        return set(range(level + 1))
    if change in ("acknowledged", "arrived", "resolved"):
        return set(range(max(Level.MAINTENANCE, level) + 1))
    if change == "rescue_late":
        return set(range(max(Level.MAINTENANCE, level) + 1)) | {Level.SUPERVISION}
    return set()
