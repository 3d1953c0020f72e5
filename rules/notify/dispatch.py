"""From the outbox to the world: each alert change is published on MQTT and, as policy
says, sent to the organizations responsible (through storm control) as webhooks; the case
outbox is drained in the same pass by :mod:`rules.notify.case_dispatch`."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from psycopg import Connection
from psycopg_pool import ConnectionPool

from core.chain import reach
from rules.notify import hold, messages
from rules.notify.case_dispatch import CaseDispatch
from rules.notify.mqtt import AlertPublisher
from rules.notify.people import Router
from rules.notify.storm import Group, StormControl
from rules.policy import Policy
from storage import alerts, webhooks
from storage.alerts import WHISTLE, changes

log = structlog.get_logger(__name__)

NOTIFICATIONS = Counter("whistle_notifications",
                        "Messages to organizations about alert changes, by shape",
                        ["shape"])
PUBLISHED = Counter("whistle_alerts_published", "Alert objects published on MQTT")
BATCH = 500

Row = dict[str, Any]


def recipients(*, change: str, alert: Row, details: Row, chain: list[Row]
               ) -> list[tuple[Row, int]]:
    """(organization, level) to tell about a change of an alert, each organization once
    (core.chain.reach says which levels)."""
    level = int(alert.get("escalation_level") or 0)
    new_level = int(details["level"]) if "level" in details else None
    levels = reach(change=change, level=level, new_level=new_level)
    present = sorted({int(o["level"]) for o in chain})
    if levels and present and not levels & set(present):
        # nobody answers at those levels (an organization left): the next level up, at once
        above = [lv for lv in present if lv > max(levels)]
        if above:
            levels = levels | {above[0]}
    seen: set[int] = set()
    out: list[tuple[Row, int]] = []
    for org in chain:
        if org["level"] in levels and org["id"] not in seen:
            seen.add(org["id"])
            out.append(({"id": org["id"], "name": org["name"], "kind": org["kind"]},
                        org["level"]))
    return out


def is_manual_resolve(row: Row) -> bool:
    """A resolve by a person (the engine must learn that the alert is gone)."""
    return bool(row["change"] == "resolved" and row["actor"] != WHISTLE)


class Notifier:
    """Drains the outboxes (alerts, then cases): MQTT for every change, webhooks for the
    parties concerned."""

    def __init__(self, pool: ConnectionPool, policy: Policy, *,
                 publisher: AlertPublisher | None, clock: Callable[[], float] = time.time,
                 on_manual_resolve: Callable[[], None] | None = None,
                 on_enqueued: Callable[[], None] | None = None,
                 people: Router | None = None) -> None:
        self.pool = pool
        self.policy = policy
        self.publisher = publisher
        self.clock = clock
        self.storm = StormControl(policy.storm)
        self.on_manual_resolve = on_manual_resolve
        self.on_enqueued = on_enqueued
        self.cases = CaseDispatch(policy, publisher=publisher, people=people)

    def run_once(self, *, force: bool = False) -> int:
        """Handle pending outbox rows and due storm groups (all held ones if force); the
        larger of the alert and case rows taken (a full batch means: call again)."""
        now = self.clock()
        manual = False
        enqueued = 0
        with self.pool.connection() as conn, conn.transaction():
            at = datetime.fromtimestamp(now, UTC)
            released = hold.release(conn, now=at)  # silences over: what they held goes out
            held = hold.Held(conn, now=at)
            rows = changes.claim_outbox(conn, limit=BATCH)
            chains = alerts.chain(conn, elevator_ids=sorted(
                {r["alert"]["elevator_id"] for r in rows})) if rows else {}
            for row in rows:
                manual = manual or is_manual_resolve(row)
                enqueued += self._handle(conn, row, chains.get(row["alert"]["elevator_id"], []),
                                         now, held)
            for group in self.storm.due(now=math.inf if force else now):
                enqueued += self._send_group(conn, group, now)
        case_rows = 0
        try:
            # Its own transaction: a case that cannot be sent does not hold alerts back.
            with self.pool.connection() as conn, conn.transaction():
                case_rows, case_enqueued = self.cases.run_once(conn, now=now, force=force)
            enqueued += case_enqueued
        finally:
            if manual and self.on_manual_resolve:
                self.on_manual_resolve()
            if enqueued and self.on_enqueued:
                self.on_enqueued()
        return max(len(rows), case_rows, released and BATCH)

    def _handle(self, conn: Connection, row: Row, chain: list[Row], now: float,
                held: hold.Held) -> int:
        alert = row["alert"]
        if self.publisher is not None:
            self.publisher.publish(alert)
            PUBLISHED.inc()
        change = row["change"]
        if change not in messages.EVENTS or held.alert(conn, alert, messages.EVENTS[change]):
            return 0
        n = 0
        for org, org_level in recipients(change=change, alert=alert, details=row["details"],
                                         chain=chain):
            level = int(row["details"].get("level", alert.get("escalation_level") or 0))
            key = (org["id"], change, alert.get("site_id"), alert["kind"])
            item = (alert, org, level, org_level)
            if self.storm.offer(key, item, now=now):
                n += self._send_single(conn, change, alert, org, level, org_level, now)
        return n

    def _send_single(self, conn: Connection, change: str, alert: Row, org: Row, level: int,
                     org_level: int, now: float) -> int:
        message_id = uuid.uuid4()
        body = messages.single(message_id=message_id, change=change, org=org, alert=alert,
                               level=level, now=now)
        return self._enqueue(conn, body, org, [alert["id"]], message_id, now,
                             {"org_level": org_level, "grouped": False})

    def _send_group(self, conn: Connection, group: Group, now: float) -> int:
        change: str = group.key[1]  # type: ignore[index]
        org = group.items[0][1]
        alerts_ = [item[0] for item in group.items]
        message_id = uuid.uuid4()
        body = messages.grouped(message_id=message_id, change=change, org=org,
                                alerts=alerts_, storm_since=group.storm_since,
                                storm_size=group.storm_size, now=now)
        log.info("storm: one grouped notification", org=org["name"], change=change,
                 elevators=body["elevators"])
        return self._enqueue(conn, body, org, [a["id"] for a in alerts_], message_id, now,
                             {"org_level": group.items[0][3], "grouped": True,
                              "elevators": body["elevators"]})

    def _enqueue(self, conn: Connection, body: Row, org: Row, alert_ids: list[int],
                 message_id: uuid.UUID, now: float, extra: Row) -> int:
        NOTIFICATIONS.labels("grouped" if extra["grouped"] else "single").inc()
        n = webhooks.enqueue(conn, org_id=org["id"], event=body["event"],
                             body=messages.encode(body), alert_ids=alert_ids,
                             message_id=message_id, now=datetime.fromtimestamp(now, UTC))
        changes.notified(conn, alert_ids=alert_ids, org_id=org["id"], details={
            "channel": "dispatch", "event": body["event"], "org": org["name"],
            "org_kind": org["kind"], "message_id": str(message_id), "webhooks": n, **extra})
        return n
