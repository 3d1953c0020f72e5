"""The whistle: an alert nobody reports for duty on climbs the chain of responsibility.

Level 0 is the elevator's current property organization (told when the alert is raised,
with the maintenance organization), 1 its maintenance organization, 2 the community and
street organizations of the site's district, 3 the district's supervision. Each step
comes after a delay that depends on the severity (or the kind), measured on the service
clock from the raise or the previous step; a level with nobody to call is skipped.
Acknowledging (or arriving) stops the climb.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import Counter

from rules import policy as rules_policy
from rules.policy import Policy
from storage import alerts, outbox

ESCALATIONS = Counter("whistle_escalations", "Escalation steps taken, by level reached",
                      ["level"])
LATE_RESCUES = Counter("whistle_late_rescues",
                       "Rescues whose arrival deadline passed with nobody on site")

LEVEL_NAMES = {0: "property", 1: "maintenance", 2: "community and street",
               3: "supervision"}

Row = dict[str, Any]


def load_policy(path: Path | None) -> Policy:
    """The [escalation] table of the rules file (defaults without one)."""
    return rules_policy.load(path)


def next_level(*, current: int, chain: list[Row], max_level: int) -> int:
    """The next level up that has someone to call (max_level if none has)."""
    for level in range(current + 1, max_level + 1):
        if any(org["level"] == level for org in chain):
            return level
    return max_level


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
            level = next_level(current=a["escalation_level"], chain=chain,
                               max_level=policy.max_level)
            reached = [_org(o) for o in chain if o["level"] == level]
            called = [_org(o) for o in chain if o["level"] <= level]
            details = {"from_level": a["escalation_level"], "level": level,
                       "level_name": LEVEL_NAMES.get(level, str(level)),
                       "reached": reached, "called": called}
            alerts.set_escalation(conn, alert_id=a["id"], level=level, now=now)
            alerts.add_event(conn, alert_id=a["id"], action="escalated", actor=alerts.WHISTLE,
                             details=details, at=now)
            outbox.record_change(conn, alert_id=a["id"], change="escalated",
                                 actor=alerts.WHISTLE, details=details)
            ESCALATIONS.labels(str(level)).inc()
            steps.append({"alert_id": a["id"], "elevator_id": a["elevator_id"], **details})
    return steps


def flag_late_rescues(conn: psycopg.Connection, *, now: datetime) -> list[int]:
    """Mark rescues past their deadline with nobody on site as late; their alert ids."""
    with conn.transaction():
        ids = alerts.mark_late_rescues(conn, now=now)
        for alert_id in ids:
            alerts.add_event(conn, alert_id=alert_id, action="noted", actor=alerts.WHISTLE,
                             details={"rescue_late": True}, at=now)
            outbox.record_change(conn, alert_id=alert_id, change="rescue_late",
                                 actor=alerts.WHISTLE)
            LATE_RESCUES.inc()
    return ids
