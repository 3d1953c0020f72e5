"""Calendar rules: inspection_overdue and maintenance_overdue, checked on the service clock.

``inspection_overdue`` is raised once the elevator's next inspection due date has passed
(never without a due date) and clears when the due date moves (an inspection recorded
with a later ``next_due``, or a registry change). ``maintenance_overdue`` is raised when
no maintenance was recorded for 15 days (counted from registration until the first
record) and clears when maintenance is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from core.domain import DEFAULT_SEVERITY, AlertKind
from rules import lifecycle
from rules.policy import Policy
from rules.transitions import Transition
from storage import records
from storage.alerts import AlertChange

INSPECTION = AlertKind.INSPECTION_OVERDUE
MAINTENANCE = AlertKind.MAINTENANCE_OVERDUE


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def evaluate(*, elevators: Iterable[dict[str, Any]], now: datetime,
             maintenance_every_s: float) -> list[Transition]:
    """The raises and clears the calendar calls for, given each elevator's dates."""
    changes: list[Transition] = []
    today = now.astimezone(UTC).date()
    every = timedelta(seconds=maintenance_every_s)
    for e in elevators:
        open_kinds = set(e["open_kinds"] or ())
        due = e["next_inspection_due"]
        overdue = due is not None and today > due
        if overdue and INSPECTION not in open_kinds:
            changes.append(Transition(e["id"], e["pk"], INSPECTION, "raise", _us(now),
                                  DEFAULT_SEVERITY[INSPECTION], {
                                      "next_inspection_due": due.isoformat(),
                                      "days_overdue": (today - due).days}))
        elif not overdue and INSPECTION in open_kinds:
            changes.append(Transition(e["id"], e["pk"], INSPECTION, "clear", _us(now),
                                  DEFAULT_SEVERITY[INSPECTION], {
                                      "next_inspection_due": due.isoformat() if due else None}))
        last = e["last_maintenance"]
        since = last or e["registered_at"]
        late = now - since > every
        if late and MAINTENANCE not in open_kinds:
            changes.append(Transition(e["id"], e["pk"], MAINTENANCE, "raise", _us(now),
                                  DEFAULT_SEVERITY[MAINTENANCE], {
                                      "last_maintenance_at": last.isoformat() if last else None,
                                      "counted_from": since.isoformat(),
                                      "days_without": round((now - since) / timedelta(days=1),
                                                            1)}))
        elif not late and MAINTENANCE in open_kinds:
            changes.append(Transition(e["id"], e["pk"], MAINTENANCE, "clear", _us(now),
                                  DEFAULT_SEVERITY[MAINTENANCE], {
                                      "last_maintenance_at": last.isoformat() if last else None}))
    return changes


def check(conn: psycopg.Connection, *, policy: Policy, now: datetime,
          keep: Callable[[int], bool] | None = None) -> list[AlertChange]:
    """Apply the calendar rules to every elevator (whose pk ``keep`` keeps) now; what
    changed."""
    changes = evaluate(elevators=records.calendar(conn), now=now,
                       maintenance_every_s=policy.maintenance_every_s)
    if keep is not None:
        changes = [t for t in changes if keep(t.elevator_pk)]
    if not changes:
        return []
    return lifecycle.apply(conn, transitions=changes, now=now, rescue=policy.rescue,
                           cases=policy.cases)
