"""The vocabulary and rules of cases (CONTRACT sections 6 and 7), defined once.

A case is what people must do about a problem: its kind decides who must report for duty
(the required parties), how long they have (``accept``, ``arrive``, ``resolve``; the rules
file's ``[cases.<kind>]`` tables override the defaults), and which severity's step delay
its climb of the chain uses. :func:`check` is the state machine: who may do what to a case
in which state, answered with the HTTP status of a refusal (403 beyond the role, 409 in
the wrong state, 422 for a missing cause); storage and the API both ask it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from core import tomlkeys
from core.domain import OrgKind, Severity

__all__ = ["ACTIVE_STATES", "AUTO_CLOSE_S", "CATEGORIES", "CATEGORY_KIND", "CAUSES",
           "DEFAULT_LIMITS", "REPORT_SEVERITY", "REQUIRED", "SEVERITY", "Action", "CaseKind",
           "CaseLimits", "CaseState", "Refusal", "check", "limits_from_table", "load_limits"]


class CaseKind(StrEnum):
    """What a case is about."""

    RESCUE = "rescue"
    FAULT = "fault"
    HAZARD = "hazard"
    COMPLAINT = "complaint"
    RESPONSIBILITY_GAP = "responsibility_gap"


class CaseState(StrEnum):
    """open -> on_site -> resolved -> closed; or cancelled."""

    OPEN = "open"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


ACTIVE_STATES = (CaseState.OPEN, CaseState.ON_SITE)

CAUSES = ("external", "misuse", "door_system", "drive_or_control", "mechanical",
          "electrical", "maintenance_quality", "false_alarm", "other")

# What a resident may report, and the kind of case each category opens or joins.
CATEGORIES = ("trapped", "stopped", "door", "noise", "complaint", "other")
CATEGORY_KIND: dict[str, CaseKind] = {
    "trapped": CaseKind.RESCUE, "stopped": CaseKind.FAULT, "door": CaseKind.FAULT,
    "noise": CaseKind.FAULT, "other": CaseKind.FAULT, "complaint": CaseKind.COMPLAINT}

REQUIRED: dict[CaseKind, tuple[OrgKind, ...]] = {
    CaseKind.RESCUE: (OrgKind.PROPERTY, OrgKind.MAINTENANCE),
    CaseKind.FAULT: (OrgKind.PROPERTY, OrgKind.MAINTENANCE),
    CaseKind.HAZARD: (OrgKind.PROPERTY, OrgKind.MAINTENANCE),
    CaseKind.COMPLAINT: (OrgKind.PROPERTY, OrgKind.STREET),
    CaseKind.RESPONSIBILITY_GAP: (OrgKind.STREET, OrgKind.COMMUNITY),
}

# The severity whose step delay a case's climb uses (a fault case: its worst alert's).
SEVERITY: dict[CaseKind, Severity] = {
    CaseKind.RESCUE: Severity.CRITICAL, CaseKind.FAULT: Severity.MAJOR,
    CaseKind.HAZARD: Severity.MINOR, CaseKind.COMPLAINT: Severity.MINOR,
    CaseKind.RESPONSIBILITY_GAP: Severity.MINOR,
}
REPORT_SEVERITY = Severity.MAJOR

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
AUTO_CLOSE_S = 7 * DAY   # a resolved case closes itself this long after
RESCUE_ARRIVAL_TARGET_S = 30 * MINUTE  # "rescues arrived within 30 minutes" of the report


@dataclass(frozen=True, slots=True)
class CaseLimits:
    """Seconds to report for duty, to arrive, to resolve (None: no such deadline), and
    between reminders to a party called that has not reported for duty (issue 15)."""

    accept_s: float
    arrive_s: float | None
    resolve_s: float | None
    remind_s: float | None = None


DEFAULT_LIMITS: dict[CaseKind, CaseLimits] = {
    CaseKind.RESCUE: CaseLimits(5 * MINUTE, 30 * MINUTE, 2 * HOUR, 3 * MINUTE),
    CaseKind.FAULT: CaseLimits(15 * MINUTE, 4 * HOUR, 24 * HOUR, 10 * MINUTE),
    # hazard: resolve by the inspection's rectify_by
    CaseKind.HAZARD: CaseLimits(DAY, None, None, DAY),
    CaseKind.COMPLAINT: CaseLimits(DAY, None, 5 * DAY, DAY),
    CaseKind.RESPONSIBILITY_GAP: CaseLimits(DAY, None, 3 * DAY, DAY),
}


def limits_from_table(table: Mapping[str, Any], duration: Any) -> dict[CaseKind, CaseLimits]:
    """The limits of every kind from a parsed ``[cases]`` table; ``duration(value, where)``
    turns a value into seconds (raising with ``where``). ValueError("cases.x.y: ...")."""
    out = dict(DEFAULT_LIMITS)
    for kind, values in table.items():
        where = f"cases.{kind}"
        if kind not in {k.value for k in CaseKind}:
            raise ValueError(f"{where}: unknown case kind {kind!r}; known: "
                             f"{', '.join(k.value for k in CaseKind)}")
        if not isinstance(values, Mapping):
            raise ValueError(f"{where}: must be a table with accept, arrive, resolve")
        current = out[CaseKind(kind)]
        fields = {"accept": current.accept_s, "arrive": current.arrive_s,
                  "resolve": current.resolve_s, "remind": current.remind_s}
        for key, value in values.items():
            if key not in fields:
                raise ValueError(f"{where}.{key}: unknown setting; known: accept, arrive, "
                                 "resolve, remind")
            fields[key] = duration(value, f"{where}.{key}")
        accept = fields["accept"]
        assert accept is not None
        out[CaseKind(kind)] = CaseLimits(accept, fields["arrive"], fields["resolve"],
                                         fields["remind"])
    return out


def load_limits(path: Path | None) -> dict[CaseKind, CaseLimits]:
    """The ``[cases]`` tables of a rules file over the defaults; ValueError
    ``path:line: cases.kind.key: problem`` for a refused setting."""
    if path is None:
        return dict(DEFAULT_LIMITS)
    try:
        text = path.read_text("utf-8")
        table = tomllib.loads(text).get("cases", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        if not isinstance(table, dict):
            raise ValueError("cases: must be a table of [cases.<kind>] tables")
        return limits_from_table(table, tomlkeys.duration)
    except ValueError as exc:
        raise ValueError(tomlkeys.located(path, text, str(exc))) from None


class Action(StrEnum):
    """What someone does to a case."""

    DUTY = "duty"
    ARRIVE = "arrive"
    RESCUED = "rescued"
    RESOLVE = "resolve"
    CLOSE = "close"
    CANCEL = "cancel"
    NOTE = "note"
    FEEDBACK = "feedback"


@dataclass(frozen=True, slots=True)
class Refusal(Exception):
    """Why an action is refused, with its HTTP status."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


CLOSERS = (OrgKind.STREET, OrgKind.SUPERVISION)
CANCELLERS = (OrgKind.PROPERTY, OrgKind.STREET, OrgKind.SUPERVISION)


def check(action: Action, *, kind: str, state: str, actor_kind: OrgKind,
          is_party: bool = False, on_duty: bool = False, arrived: bool = False,
          rescued: bool = False, cause: str | None = None) -> None:
    """Raise :class:`Refusal` unless ``actor_kind`` may do ``action`` now.

    ``is_party``, ``on_duty`` and ``arrived`` describe the caller's organization on the
    case (admins act as a party on duty for every action but duty itself)."""
    admin = actor_kind == OrgKind.ADMIN
    finished = state in (CaseState.CLOSED, CaseState.CANCELLED)
    active = state in ACTIVE_STATES
    if action == Action.DUTY:
        if not active:
            raise Refusal(409, f"the case is {state}; reporting for duty is for open cases")
        if on_duty:
            raise Refusal(409, "your organization has already reported for duty on this case")
        return
    if action == Action.NOTE:
        if not (admin or is_party):
            raise Refusal(403, "only a party of the case may add a note")
        return
    if action == Action.FEEDBACK:
        if state != CaseState.RESOLVED:
            raise Refusal(409, f"the case is {state}; feedback is given once it is resolved")
        return
    if action == Action.CLOSE:
        closers = (OrgKind.SUPERVISION,) if kind == CaseKind.HAZARD else CLOSERS
        if not admin and actor_kind not in closers:
            raise Refusal(403, f"a {actor_kind} organization may not close a {kind} case "
                               f"(allowed: admin, {', '.join(closers)})")
        if finished:
            raise Refusal(409, f"the case is already {state}")
        if kind != CaseKind.HAZARD and state != CaseState.RESOLVED:
            raise Refusal(409, f"the case is {state}; only a resolved case can be closed")
        return
    if action == Action.CANCEL:
        if not admin and actor_kind not in CANCELLERS:
            raise Refusal(403, f"a {actor_kind} organization may not cancel a case "
                               "(allowed: admin, property, street, supervision)")
        if finished:
            raise Refusal(409, f"the case is already {state}")
        return
    # arrive, rescued, resolve: a party on duty
    if not admin and not on_duty:
        raise Refusal(403, f"only a party that has reported for duty may {action}; "
                           "report for duty first")
    if action == Action.RESOLVE:
        if cause not in CAUSES:
            raise Refusal(422, f"cause must be one of {', '.join(CAUSES)}")
        if not active:
            raise Refusal(409, f"the case is already {state}")
        return
    if not active:
        raise Refusal(409, f"the case is {state}")
    if action == Action.ARRIVE and arrived:
        raise Refusal(409, "your organization has already recorded its arrival")
    if action == Action.RESCUED:
        if kind != CaseKind.RESCUE:
            raise Refusal(409, f"a rescue is recorded on rescue cases, not on a {kind} case")
        if rescued:
            raise Refusal(409, "the rescue has already been recorded")
