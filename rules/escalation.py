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

from core.chain import LEVEL_NAMES, Level, next_level
from rules import policy as rules_policy
from rules.policy import Policy
from storage import alerts, cases
from storage.alerts import changes
from storage.cases import timers

ESCALATIONS = Counter("whistle_escalations", "Escalation steps taken, by level reached",
                      ["level"])
CASE_STEPS = Counter("whistle_case_escalations",
                     "Case climbs, by why (unanswered, overdue) and level reached",
                     ["why", "level"])
LATE_PARTIES = Counter("whistle_case_late_parties",
                       "Required parties that did not report for duty within the limit")
REMINDERS = Counter("whistle_case_reminders",
                    "Cases whose called parties were reminded to report for duty")
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


def _climb(conn: psycopg.Connection, *, case: Row, max_level: int, now: datetime,
           why: str) -> Row | None:
    chain = cases.queries.chain(conn, case_ids=[case["id"]])[case["id"]]
    if case["level"] >= max_level:
        return None
    # Property and maintenance are called when a case opens: a case that goes overdue
    # climbs to someone new, the district's community and street offices first.
    current = max(case["level"], Level.MAINTENANCE) if why == "overdue" else case["level"]
    if current >= max_level:
        return None
    level = next_level(current=current, levels_present=(o["level"] for o in chain),
                       max_level=max_level)
    details = {"from_level": case["level"], "level": level, "why": why,
               "level_name": LEVEL_NAMES.get(level, str(level)),
               "reached": [_org(o) for o in chain if o["level"] == level]}
    timers.escalate(conn, case_id=case["id"], kind=case["kind"], level=level, now=now,
                    details=details)
    CASE_STEPS.labels(why, str(level)).inc()
    return {"case_id": case["id"], "change": "escalated", **details}


def cases_due(conn: psycopg.Connection, *, policy: Policy, now: datetime) -> list[Row]:
    """The case timers, in one transaction: required parties late past ``accept_by``;
    cases past ``arrive_by`` or ``resolve_by`` marked overdue and climbing at once; cases
    nobody answered (or still overdue) climbing one level per step delay of their
    severity; resolved cases a week old closed; parties called that have not reported
    for duty reminded every ``remind`` of the case's kind. Every change made (for waking the
    notifier)."""
    done: list[Row] = []
    with conn.transaction():
        late = timers.flag_late(conn, now=now)
        LATE_PARTIES.inc(len(late))
        done += [{"case_id": c.case_id, "change": c.change} for c in late]
        climbed: set[int] = set()
        for case_id, _kind in timers.flag_overdue(conn, now=now):
            case = cases.duty.lock(conn, case_id=case_id)
            step = _climb(conn, case=case, max_level=policy.max_level, now=now, why="overdue")
            climbed.add(case_id)
            done.append(step or {"case_id": case_id, "change": "overdue"})
        due = cases.queries.due_for_escalation(conn, now=now, max_level=policy.max_level,
                                               step_s_by_severity=policy.step_s)
        for case in due:
            if case["id"] in climbed:
                continue
            step = _climb(conn, case=case, max_level=policy.max_level, now=now,
                          why="overdue" if case["overdue"] else "unanswered")
            if step is not None:
                done.append(step)
        done += [{"case_id": c.case_id, "change": c.change}
                 for c in timers.auto_close(conn, now=now)]
        reminded = timers.remind_due(conn, now=now, remind_s={
            k.value: v.remind_s for k, v in policy.cases.items()})
        REMINDERS.inc(len(reminded))
        done += [{"case_id": c.case_id, "change": c.change} for c in reminded]
    return done
