"""From the case outbox to the world: each case change is published on MQTT
(``lift/{elevator_id}/cases``, or ``site/{site_id}/cases`` for a whole-site case) and, for
the changes people must hear of, sent as webhooks to the case's parties that have been
called (through storm control, like alerts), each told recorded on the case's trail.

Who is told (CONTRACT section 6: "each level called is added to parties and notified"):
every party with ``called_at`` or ``on_duty_at`` in the case object as it is after the
change; so ``opened`` reaches the parties called at opening and ``escalated`` everyone
called up to the new level. ``overdue`` and ``late`` also reach the supervision department
of the case's district, called or not: it should know.

Storm control groups many cases of one kind at one site; it counts distinct cases, so one
case climbing level after level is told each time.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from psycopg import Connection

from core.chain import Level
from rules.notify import hold, messages
from rules.notify.mqtt import AlertPublisher
from rules.notify.people import PEOPLE_CHANGES, Router
from rules.notify.storm import Group, StormControl
from rules.policy import Policy
from storage import webhooks
from storage.cases import changes, queries

__all__ = ["BATCH", "CaseDispatch", "recipients"]

log = structlog.get_logger(__name__)

CASE_NOTIFICATIONS = Counter("whistle_case_notifications",
                             "Messages to organizations about case changes, by shape",
                             ["shape"])
CASES_PUBLISHED = Counter("whistle_cases_published", "Case objects published on MQTT")
BATCH = 500
TELL_SUPERVISION = ("overdue", "late")

Row = dict[str, Any]


def recipients(*, change: str, case: Row, chain: list[Row]) -> list[tuple[Row, int | None]]:
    """(organization, its level in the chain or None) to tell about a case change, each
    organization once: the parties called (or on duty), and for overdue and late the
    district's supervision too."""
    out: list[tuple[Row, int | None]] = []
    seen: set[int] = set()
    for p in case.get("parties") or []:
        if (p.get("called_at") or p.get("on_duty_at")) and p["org_id"] not in seen:
            seen.add(p["org_id"])
            out.append(({"id": p["org_id"], "name": p["org_name"], "kind": p["kind"]},
                        p.get("level")))
    if change in TELL_SUPERVISION:
        for org in chain:
            if org["level"] == Level.SUPERVISION and org["id"] not in seen:
                seen.add(org["id"])
                out.append(({"id": org["id"], "name": org["name"], "kind": org["kind"]},
                            org["level"]))
    return out


class CaseDispatch:
    """The case half of the notifier (its own storm control: case keys never mix with
    alert keys); with ``people``, the people on duty of the organizations called are
    reached through their channels too (:mod:`rules.notify.people`)."""

    def __init__(self, policy: Policy, *, publisher: AlertPublisher | None,
                 people: Router | None = None) -> None:
        self.publisher = publisher
        self.storm = StormControl(policy.storm)
        self.people = people

    def run_once(self, conn: Connection, *, now: float, force: bool = False
                 ) -> tuple[int, int]:
        """Handle pending case outbox rows and due storm groups (all held ones if force)
        in the caller's transaction: (rows taken, webhook deliveries scheduled)."""
        rows = changes.claim_outbox(conn, limit=BATCH)
        wanted = sorted({r["case_id"] for r in rows if r["change"] in TELL_SUPERVISION})
        chains = queries.chain(conn, case_ids=wanted) if wanted else {}
        held = hold.Held(conn, now=datetime.fromtimestamp(now, UTC))
        enqueued = 0
        for row in rows:
            enqueued += self._handle(conn, row, chains.get(row["case_id"], []), now, held)
        for group in self.storm.due(now=math.inf if force else now):
            enqueued += self._send_group(conn, group, now)
        return len(rows), enqueued

    def _handle(self, conn: Connection, row: Row, chain: list[Row], now: float,
                held: hold.Held) -> int:
        case = row["case"]
        if self.publisher is not None:
            self.publisher.publish_case(case)
            CASES_PUBLISHED.inc()
        change = row["change"]
        tells = change in messages.CASE_EVENTS or change == "reminder"
        if tells and held.case(conn, case, messages.CASE_EVENTS.get(change) or change):
            return 0
        if change == "reminder" and self.people is not None:
            wanted = set((row.get("details") or {}).get("org_ids") or [])
            orgs = [{"id": p["org_id"], "name": p["org_name"]}
                    for p in case.get("parties") or [] if p["org_id"] in wanted]
            self.people.enqueue(conn, case=case, change=change, orgs=orgs, now=now)
        if change not in messages.CASE_EVENTS:
            return 0
        level = int(case.get("level") or 0)
        n = 0
        for org, org_level in recipients(change=change, case=case, chain=chain):
            key = ("case", org["id"], change, case.get("site_id"), case.get("kind"))
            if self.storm.offer(key, (case, org, level, org_level), now=now,
                                ident=case["id"]):
                if self.people is not None and change in PEOPLE_CHANGES:
                    self.people.enqueue(conn, case=case, change=change, orgs=[org], now=now)
                message_id = uuid.uuid4()
                body = messages.case_single(message_id=message_id, change=change, org=org,
                                            case=case, level=level, now=now)
                n += self._enqueue(conn, body, org, [int(case["id"])], message_id, now,
                                   {"change": change, "org_level": org_level,
                                    "grouped": False, "outbox_id": row["id"]})
        return n

    def _send_group(self, conn: Connection, group: Group, now: float) -> int:
        change: str = group.key[2]  # type: ignore[index]
        org = group.items[0][1]
        cases = [item[0] for item in group.items]
        message_id = uuid.uuid4()
        body = messages.case_grouped(message_id=message_id, change=change, org=org,
                                     cases=cases, storm_since=group.storm_since,
                                     storm_size=group.storm_size, now=now)
        log.info("storm: one grouped case notification", org=org["name"], change=change,
                 cases=len(cases))
        if self.people is not None and change in PEOPLE_CHANGES:
            # one message to the people (about the first case), on every case's record
            self.people.enqueue(conn, case=cases[0], change=change, orgs=[org], now=now,
                                case_ids=sorted({int(c["id"]) for c in cases}))
        return self._enqueue(conn, body, org, sorted({int(c["id"]) for c in cases}),
                             message_id, now, {"change": change,
                                               "org_level": group.items[0][3],
                                               "grouped": True,
                                               "elevators": body["elevators"]})

    def _enqueue(self, conn: Connection, body: Row, org: Row, case_ids: list[int],
                 message_id: uuid.UUID, now: float, extra: Row) -> int:
        CASE_NOTIFICATIONS.labels("grouped" if extra["grouped"] else "single").inc()
        at = datetime.fromtimestamp(now, UTC)
        n = webhooks.enqueue(conn, org_id=org["id"], event=body["event"],
                             body=messages.encode(body), alert_ids=[], case_ids=case_ids,
                             message_id=message_id, now=at)
        changes.notified(conn, case_ids=case_ids, org_id=org["id"], details={
            "channel": "dispatch", "event": body["event"], "org": org["name"],
            "org_kind": org["kind"], "message_id": str(message_id), "webhooks": n, **extra})
        return n
