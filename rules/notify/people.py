"""Reaching people (issue 15): when a case calls an organization (opened, escalated) or
reminds it, the people on duty in its roster are notified through their own channels;
nobody on duty (or nobody on duty with a channel) -> the organization's default channels.
An organization that has already reported for duty on the case is not called again.

:class:`Router` queues one message per person (or per organization default) on the first
of its channels, the others kept as fallbacks; channels failing lately go last.
:class:`ChannelSender` attempts what is due, retries with backoff, and when a channel gives
up (or is skipped: removed, the daily SMS cap reached) queues the next one. Every attempt
is a row of ``case_notifications`` and every outcome is on the case's trail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from prometheus_client import Counter, Gauge
from psycopg import Connection
from psycopg_pool import ConnectionPool

from core.roster import in_quiet_hours, on_duty
from core.settings import Settings
from rules.notify import texts
from rules.notify.channels import Channel, DeliveryError, Message
from rules.notify.channels.dingtalk import DingTalk
from rules.notify.channels.email import Email
from rules.notify.channels.feishu import Feishu
from rules.notify.channels.sms import Sms
from rules.notify.channels.wecom import WeCom
from rules.policy import Channels
from storage import rosters
from storage.cases import notifications, queries

__all__ = ["PEOPLE_CHANGES", "ChannelSender", "Router"]

log = structlog.get_logger(__name__)

PEOPLE_CHANGES = ("opened", "escalated", "reminder", "unsilenced")
CLAIM_LIMIT = 32

DELIVERIES = Counter("whistle_channel_deliveries",
                     "Attempts to reach people, by channel and outcome (delivered, retry, "
                     "gave_up, skipped)", ["channel", "outcome"])
FAILING = Gauge("whistle_channels_failing",
                "Contact channels whose last attempts all failed, by channel", ["channel"])
NOBODY = Counter("whistle_case_calls_unreachable",
                 "Organizations called on a case with no person nor default channel to reach")

Row = dict[str, Any]


def _ordered(channels: list[Row]) -> list[Row]:
    """Healthy channels first (their own order kept), failing ones after."""
    return sorted(channels, key=lambda c: c["failures"] >= rosters.FAILING_AFTER)


def _on_duty_now(conn: Connection, case_id: int, org_id: int) -> bool:
    party = queries.party(conn, case_id=case_id, org_id=org_id)
    return bool(party and party.get("on_duty_at"))


class Router:
    """Queues the messages of a case change to the people of the organizations called."""

    def __init__(self, *, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def link(self, case_id: int) -> str:
        """The case page."""
        return f"{self.base_url}/cases/{case_id}"

    def enqueue(self, conn: Connection, *, case: Row, change: str, orgs: list[Row],
                now: float, case_ids: list[int] | None = None) -> int:
        """Messages queued for ``orgs`` (each {id, name}) about ``case``."""
        at = datetime.fromtimestamp(now, UTC)
        on = {p["org_id"] for p in case.get("parties") or [] if p.get("on_duty_at")}
        # the case object is as it was at the change: ask again whether they reported since
        targets = [o for o in orgs if o["id"] not in on
                   and not _on_duty_now(conn, int(case["id"]), o["id"])]
        if not targets:
            return 0
        ids = [o["id"] for o in targets]
        roster = rosters.roster_of(conn, org_ids=ids, around=at)
        channels = rosters.channels_for(conn, org_ids=ids)
        case_ids = case_ids or [int(case["id"])]
        n = 0
        for org in targets:
            message = texts.build_all(case=case, change=change, org_id=org["id"], now=at,
                                      link=self.link(int(case["id"])))
            shifts, overrides = roster[org["id"]]
            people, _source = on_duty(shifts, overrides, at)
            names = rosters.people_names(conn, person_ids=people) if people else {}
            mine = channels[org["id"]]
            reach: list[tuple[int | None, str, list[Row]]] = []
            for pid in people:
                own = [c for c in mine if c["person_id"] == pid]
                if own:
                    reach.append((pid, names.get(pid, str(pid)), _ordered(own)))
            if not reach:
                defaults = [c for c in mine if c["person_id"] is None]
                if defaults:
                    reach.append((None, org["name"], _ordered(defaults)))
            if not reach:
                NOBODY.inc()
                notifications.enqueue(
                    conn, case_ids=case_ids, org_id=org["id"], person_id=None,
                    recipient=org["name"], channel=None, target="-", change=change,
                    message=message, fallback=[], now=at,
                    skipped="nobody on duty has a channel and the organization has no "
                            "default channel")
                continue
            for person_id, name, chans in reach:
                first = chans[0]
                notifications.enqueue(
                    conn, case_ids=case_ids, org_id=org["id"], person_id=person_id,
                    recipient=name, channel=first,
                    target=rosters.mask_target(first["kind"], first["target"]),
                    change=change, message=message, fallback=[c["id"] for c in chans[1:]],
                    now=at)
                n += 1
        return n


class ChannelSender:
    """Attempts due messages to people's channels and records every outcome."""

    def __init__(self, pool: ConnectionPool, settings: Settings, policy: Channels, *,
                 clock: Callable[[], float] = time.time, allow_private: bool = False) -> None:
        self.pool = pool
        self.policy = policy
        self.clock = clock
        self.allow_private = allow_private
        self.tz = ZoneInfo(settings.timezone)
        self._http = httpx.Client(timeout=policy.timeout_s, follow_redirects=False)
        self._email = Email(settings)
        self._robots: dict[str, Channel] = {
            "wecom": WeCom(self._http, allow_private=allow_private),
            "dingtalk": DingTalk(self._http, allow_private=allow_private),
            "feishu": Feishu(self._http, allow_private=allow_private)}

    def close(self) -> None:
        """Release the HTTP client."""
        self._http.close()

    def release_interrupted(self) -> int:
        """Messages a previous run left half-sent are due again."""
        with self.pool.connection() as conn:
            return notifications.release_interrupted(conn)

    def run_once(self) -> int:
        """Attempt every due message (up to a batch); how many were tried."""
        at = datetime.fromtimestamp(self.clock(), UTC)
        with self.pool.connection() as conn:
            due = notifications.claim_due(conn, now=at, limit=CLAIM_LIMIT)
        for row in due:
            self._attempt(row)
        if due:
            with self.pool.connection() as conn:
                failing = rosters.failing_counts(conn)
            for kind in ("email", "sms", *self._robots):
                FAILING.labels(kind).set(failing.get(kind, 0))
        return len(due)

    def _adapter(self, conn: Connection, ch: Row) -> Channel:
        if ch["kind"] == "email":
            return self._email
        if ch["kind"] == "sms":
            return Sms(self._http, rosters.gateway(conn, org_id=ch["org_id"]),
                       allow_private=self.allow_private)
        return self._robots[ch["kind"]]

    def _attempt(self, row: Row) -> None:
        now = self.clock()
        skip: str | None = None
        with self.pool.connection() as conn:
            ch = rosters.channel(conn, channel_id=row["channel_id"]) if row[
                "channel_id"] else None
            if ch is None:
                skip = "the channel was removed"
            elif ch["quiet_from"] is not None and in_quiet_hours(
                    ch["quiet_from"], ch["quiet_until"], ch["quiet_tz"],
                    datetime.fromtimestamp(now, UTC)) and not queries.urgent(
                    conn, case_ids=list(row["case_ids"])):
                skip = (f"quiet hours ({ch['quiet_from']:%H:%M}-{ch['quiet_until']:%H:%M} "
                        f"{ch['quiet_tz']}): not urgent, the next channel is used")
            elif ch["kind"] == "sms":
                gw = rosters.gateway(conn, org_id=ch["org_id"])
                since = notifications.day_start(datetime.fromtimestamp(now, UTC), self.tz)
                sent = notifications.sms_sent(conn, org_id=ch["org_id"], since=since)
                if gw is not None and sent > int(gw["daily_cap"]):
                    skip = f"the organization's daily SMS cap ({gw['daily_cap']}) is reached"
            adapter = self._adapter(conn, ch) if ch is not None and skip is None else None
        error = skip
        if adapter is not None and ch is not None:
            stored = row["message"]
            message = Message.from_json(stored.get(ch["lang"]) or stored["zh-CN"])
            try:
                adapter.send(target=ch["target"], secret=ch["secret"], message=message,
                             now=now)
            except DeliveryError as exc:
                error = str(exc)[:300]
            except Exception as exc:  # a bug must not lose the attempt record
                log.exception("channel attempt failed unexpectedly", notification=row["id"])
                error = type(exc).__name__
        retry = None if error is None or skip else self.policy.retry_after(row["attempt"])
        at = datetime.fromtimestamp(self.clock(), UTC)
        with self.pool.connection() as conn:
            if ch is not None and skip is None:
                rosters.record_outcome(conn, channel_id=ch["id"], error=error)
            outcome = notifications.finish(
                conn, row=row, error=error, now=at, skipped=skip is not None,
                retry_at=at + timedelta(seconds=retry) if retry is not None else None)
            if outcome in ("gave_up", "skipped"):
                self._next(conn, row, at)
        DELIVERIES.labels(row["channel"], outcome).inc()
        if error is not None:
            log.warning("a channel did not deliver", channel=row["channel"],
                        notification=row["id"], attempt=row["attempt"], outcome=outcome,
                        error=error)

    def _next(self, conn: Connection, row: Row, at: datetime) -> None:
        """Queue the message on the next channel of the person or organization."""
        rest = list(row["fallback"])
        while rest:
            ch = rosters.channel(conn, channel_id=rest.pop(0))
            if ch is None:
                continue
            with conn.transaction():
                notifications.enqueue(
                    conn, case_ids=list(row["case_ids"]), org_id=row["org_id"],
                    person_id=row["person_id"], recipient=row["recipient"], channel=ch,
                    target=rosters.mask_target(ch["kind"], ch["target"]),
                    change=row["change"], message=row["message"], fallback=rest, now=at)
            return
