"""Silences in the notifier (issue 15): the notifications of an alert a silence covers
(and of a case made only of such alerts, with no resident's report) wait -- MQTT still
publishes every change, the alert is still recorded, escalated and counted -- and each
held notification is on the trail (``notified`` with ``channel: silence``). When the
silence is over (ended or expired), the alerts still open under it and their active cases
are told once (``unsilenced``). A life-safety kind is never held (core.silence)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import Counter
from psycopg import Connection

from core.silence import covers
from storage import silences
from storage.alerts import changes as alert_changes
from storage.cases import changes as case_changes
from storage.cases import timers as case_timers

__all__ = ["Held", "release"]

HELD = Counter("whistle_notifications_held",
               "Notifications held by a silence, by what they were about", ["about"])

Row = dict[str, Any]


class Held:
    """The silences lasting now, read once per notifier pass."""

    def __init__(self, conn: Connection, *, now: datetime) -> None:
        self.active = silences.active(conn, now=now)

    def alert(self, conn: Connection, alert: Row, event: str) -> bool:
        """True (and recorded) if a silence holds this alert's notification."""
        if not self.active:
            return False
        sid = covers(self.active, elevator_id=alert.get("elevator_id"),
                     site_id=alert.get("site_id"), kind=str(alert.get("kind")))
        if sid is None:
            return False
        HELD.labels("alert").inc()
        alert_changes.notified(conn, alert_ids=[int(alert["id"])], org_id=None, details={
            "channel": "silence", "silence_id": sid, "event": event, "held": True})
        return True

    def case(self, conn: Connection, case: Row, event: str) -> bool:
        """True (and recorded) if every alert of the case is held and no resident's
        report is in it."""
        if not self.active or case.get("reports") or not case.get("alerts"):
            return False
        kinds = silences.alert_kinds(conn, alert_ids=[int(a) for a in case["alerts"]])
        ids = {covers(self.active, elevator_id=case.get("elevator_id"),
                      site_id=case.get("site_id"), kind=k) for k in kinds}
        if not kinds or None in ids:
            return False
        HELD.labels("case").inc()
        case_changes.notified(conn, case_ids=[int(case["id"])], org_id=None, details={
            "channel": "silence", "silence_id": min(i for i in ids if i is not None),
            "event": event, "held": True})
        return True


def release(conn: Connection, *, now: datetime) -> int:
    """Tell what silences that are over held; how many silences were released."""
    over = silences.ended_unreleased(conn, now=now)
    for s in over:
        ids = [int(a) for a in s["alert_ids"]]
        for alert_id in ids:
            alert_changes.unsilenced(conn, alert_id=alert_id, silence_id=s["id"], now=now)
        if ids:
            case_timers.unsilenced(conn, alert_ids=ids, silence_id=s["id"], now=now)
        silences.mark_released(conn, silence_id=s["id"], now=now)
    return len(over)
