"""The whistle: an alert nobody reports for duty on climbs the chain of responsibility.

The chain itself (levels, who answers at each, who is told) is defined once in
:mod:`core.chain`. Each step comes after a delay that depends on the severity (or the
kind), measured on the service clock from the raise or the previous step; a level with
nobody to call is skipped. Acknowledging (or arriving) stops the climb. Every step is
written through :mod:`storage.alerts.changes`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import Counter

from core.chain import LEVEL_NAMES, next_level
from rules import policy as rules_policy
from rules.policy import Policy
from storage import alerts
from storage.alerts import changes

ESCALATIONS = Counter("whistle_escalations", "Escalation steps taken, by level reached",
                      ["level"])
LATE_RESCUES = Counter("whistle_late_rescues",
                       "Rescues whose arrival deadline passed with nobody on site")

Row = dict[str, Any]


def load_policy(path: Path | None) -> Policy:
    """The [escalation] table of the rules file (defaults without one)."""
    return rules_policy.load(path)


def _org(o: Row) -> Row:
    return {"id": o["id"], "name": o["name"], "kind": o["kind"], "level": o["level"]}


def escalate_due(conn: psycopg.Connection, *, policy: Policy, now: datetime) -> list[Row]:
    """Climb every due, unacknowledged alert one step; the steps taken."""
    steps: list[Row] = []
    with conn.transaction():
        due = alerts.due_for_escalation(conn, now=now, max_level=policy.max_level,
                                        step_s_by_severity=policy.step_s,
                                        step_s_by_kind=policy.kind_step_s)
        if not due:
            return steps
        chains = alerts.chain(conn, elevator_ids=sorted({a["elevator_id"] for a in due}))
        for a in due:
            chain = chains.get(a["elevator_id"], [])
            level = next_level(current=a["escalation_level"],
                               levels_present=(o["level"] for o in chain),
                               max_level=policy.max_level)
            reached = [_org(o) for o in chain if o["level"] == level]
            called = [_org(o) for o in chain if o["level"] <= level]
            details = {"from_level": a["escalation_level"], "level": level,
                       "level_name": LEVEL_NAMES.get(level, str(level)),
                       "reached": reached, "called": called}
            changes.escalate(conn, alert_id=a["id"], level=level, now=now, details=details)
            ESCALATIONS.labels(str(level)).inc()
            steps.append({"alert_id": a["id"], "elevator_id": a["elevator_id"], **details})
    return steps


def flag_late_rescues(conn: psycopg.Connection, *, now: datetime) -> list[int]:
    """Mark rescues past their deadline with nobody on site as late; their alert ids."""
    with conn.transaction():
        flagged = changes.flag_late_rescues(conn, now=now)
    LATE_RESCUES.inc(len(flagged))
    return [c.alert_id for c in flagged]
