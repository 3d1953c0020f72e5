"""Duty rosters, contact channels and SMS gateways of organizations (issue 15).

A roster (weekly shifts, one-off overrides) is replaced whole by its managers; who is on
duty is decided by :func:`core.roster.on_duty` over what :func:`roster_of` returns.
Channels belong to a person of the organization or, without a person, to the organization
itself (its default channels). Secrets (robot signing secrets, the gateway's API keys) and
robot URLs (their ``key``/``access_token`` is a credential) are stored as given, for
sending, and only ever returned masked (:func:`mask`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from core.roster import Override, Shift
from storage.errors import Invalid

__all__ = ["FAILING_AFTER", "ROBOTS", "channel", "channels_for", "failing_by_org",
           "failing_counts", "gateway",
           "get_channels", "get_roster", "mask", "mask_target", "people_names",
           "put_gateway", "record_outcome", "replace_channels", "replace_roster",
           "roster_of"]

Row = dict[str, Any]
ROBOTS = ("wecom", "dingtalk", "feishu")
FAILING_AFTER = 3  # consecutive failed attempts: the channel is reported as failing


def mask(secret: str | None) -> str | None:
    """A secret as it may be shown: its last 4 characters only (nothing if short)."""
    if not secret:
        return None
    return "****" + secret[-4:] if len(secret) >= 12 else "****"


def mask_target(kind: str, target: str) -> str:
    """A channel's address as anyone who sees a case may read it."""
    if kind == "email":
        name, _, domain = target.partition("@")
        return f"{name[:1]}***@{domain}"
    if kind == "sms":
        return target[:3] + "****" + target[-4:] if len(target) > 7 else "****"
    scheme, _, rest = target.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/****"


def _rows(conn: psycopg.Connection, query: str, params: Any) -> list[tuple[Any, ...]]:
    """Rows as tuples, whatever the connection's row factory."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute(query, params).fetchall()


def _people_of(conn: psycopg.Connection, org_id: int) -> dict[int, str]:
    rows = _rows(conn, "SELECT id, name FROM people WHERE org_id = %s AND deleted_at IS NULL",
                 (org_id,))
    return {int(r[0]): str(r[1]) for r in rows}


def _check_person(people: dict[int, str], person_id: int | None, field: str) -> None:
    if person_id is not None and person_id not in people:
        raise Invalid(field, f"person {person_id} is not one of the organization's people")


# --- rosters ---------------------------------------------------------------------------
def get_roster(conn: psycopg.Connection, *, org_id: int) -> Row:
    """The roster as the API shows it."""
    with conn.cursor(row_factory=dict_row) as cur:
        shifts = cur.execute(
            "SELECT s.id, s.person_id, p.name AS person_name, s.weekday, "
            "to_char(s.starts, 'HH24:MI') AS start, to_char(s.ends, 'HH24:MI') AS \"end\", "
            "s.time_zone FROM roster_shifts s JOIN people p ON p.id = s.person_id "
            "WHERE s.org_id = %s AND p.deleted_at IS NULL ORDER BY s.weekday, s.starts, s.id",
            (org_id,)).fetchall()
        overrides = cur.execute(
            "SELECT o.id, o.person_id, p.name AS person_name, o.starts_at AS start, "
            "o.ends_at AS \"end\", CASE WHEN o.on_duty THEN 'on' ELSE 'off' END AS duty, "
            "o.note FROM roster_overrides o JOIN people p ON p.id = o.person_id "
            "WHERE o.org_id = %s AND p.deleted_at IS NULL ORDER BY o.starts_at, o.id",
            (org_id,)).fetchall()
    return {"org_id": org_id, "shifts": shifts, "overrides": overrides}


def replace_roster(conn: psycopg.Connection, *, org_id: int, shifts: list[Row],
                   overrides: list[Row], by: str) -> Row:
    """Replace the whole roster (one transaction). Shifts: {person_id, weekday, start,
    end (datetime.time), time_zone}; overrides: {person_id, start, end (aware), duty}."""
    people = _people_of(conn, org_id)
    for i, s in enumerate(shifts):
        _check_person(people, s["person_id"], f"shifts.{i}.person_id")
    for i, o in enumerate(overrides):
        _check_person(people, o["person_id"], f"overrides.{i}.person_id")
    with conn.transaction():
        conn.execute("DELETE FROM roster_shifts WHERE org_id = %s", (org_id,))
        conn.execute("DELETE FROM roster_overrides WHERE org_id = %s", (org_id,))
        for s in shifts:
            conn.execute(
                "INSERT INTO roster_shifts (org_id, person_id, weekday, starts, ends, "
                "time_zone, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (org_id, s["person_id"], s["weekday"], s["start"], s["end"], s["time_zone"],
                 by))
        for o in overrides:
            conn.execute(
                "INSERT INTO roster_overrides (org_id, person_id, starts_at, ends_at, "
                "on_duty, note, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (org_id, o["person_id"], o["start"], o["end"], o["duty"] == "on",
                 o.get("note"), by))
    return get_roster(conn, org_id=org_id)


def roster_of(conn: psycopg.Connection, *, org_ids: list[int], around: datetime
              ) -> dict[int, tuple[list[Shift], list[Override]]]:
    """Shifts and the overrides lasting at ``around`` of each organization, for
    :func:`core.roster.on_duty` (people removed are never on duty)."""
    out: dict[int, tuple[list[Shift], list[Override]]] = {o: ([], []) for o in org_ids}
    rows = _rows(
        conn, "SELECT s.org_id, s.person_id, s.weekday, s.starts, s.ends, s.time_zone "
        "FROM roster_shifts s JOIN people p ON p.id = s.person_id "
        "WHERE s.org_id = ANY(%s) AND p.deleted_at IS NULL ORDER BY s.weekday, s.starts, s.id",
        (org_ids,))
    for org_id, person_id, weekday, starts, ends, tz in rows:
        out[org_id][0].append(Shift(person_id, weekday, starts, ends, tz))
    rows = _rows(
        conn, "SELECT o.org_id, o.person_id, o.starts_at, o.ends_at, o.on_duty "
        "FROM roster_overrides o JOIN people p ON p.id = o.person_id "
        "WHERE o.org_id = ANY(%s) AND p.deleted_at IS NULL AND o.starts_at <= %s "
        "AND o.ends_at > %s ORDER BY o.starts_at, o.id", (org_ids, around, around))
    for org_id, person_id, starts_at, ends_at, on in rows:
        out[org_id][1].append(Override(person_id, starts_at, ends_at, on))
    return out


def people_names(conn: psycopg.Connection, *, person_ids: list[int]) -> dict[int, str]:
    """Names of people by id."""
    rows = _rows(conn, "SELECT id, name FROM people WHERE id = ANY(%s)", (person_ids,))
    return {int(r[0]): str(r[1]) for r in rows}


# --- channels --------------------------------------------------------------------------
_CHANNEL = ("id, person_id, position, kind, target, secret, lang, failures, last_error, "
            "last_failed_at, last_ok_at, quiet_from, quiet_until, quiet_tz")


def _shown(row: Row) -> Row:
    robot = row["kind"] in ROBOTS
    return {"id": row["id"], "person_id": row["person_id"], "kind": row["kind"],
            "target": mask_target(row["kind"], row["target"]) if robot else row["target"],
            "secret": mask(row["secret"]), "lang": row["lang"],
            "failing": row["failures"] >= FAILING_AFTER, "failures": row["failures"],
            "last_failed_at": row["last_failed_at"], "last_ok_at": row["last_ok_at"],
            "quiet_hours": None if row["quiet_from"] is None else {
                "from": row["quiet_from"].strftime("%H:%M"),
                "until": row["quiet_until"].strftime("%H:%M"), "time_zone": row["quiet_tz"]}}


def _active(conn: psycopg.Connection, org_id: int) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_CHANNEL} FROM contact_channels WHERE org_id = %s AND removed_at IS NULL "
            "ORDER BY person_id NULLS FIRST, position, id", (org_id,)).fetchall()


def get_channels(conn: psycopg.Connection, *, org_id: int) -> Row:
    """The organization's default channels, its people's, and its SMS gateway (masked)."""
    rows = [_shown(r) for r in _active(conn, org_id)]
    return {"org_id": org_id, "channels": rows, "sms_gateway": gateway(conn, org_id=org_id,
                                                                       masked=True)}


def replace_channels(conn: psycopg.Connection, *, org_id: int, channels: list[Row]) -> None:
    """Replace the channels: an entry with the ``id`` of a current channel keeps it (and
    its target and secret unless given); others are new; current ones not named go."""
    people = _people_of(conn, org_id)
    current = {r["id"]: r for r in _active(conn, org_id)}
    positions: dict[int | None, int] = {}
    keep: set[int] = set()
    with conn.transaction():
        for i, ch in enumerate(channels):
            _check_person(people, ch.get("person_id"), f"channels.{i}.person_id")
            pos = positions[ch.get("person_id")] = positions.get(ch.get("person_id"), -1) + 1
            old = current.get(ch["id"]) if ch.get("id") is not None else None
            if ch.get("id") is not None and old is None:
                raise Invalid(f"channels.{i}.id", f"channel {ch['id']} is not a current "
                                                  "channel of the organization")
            if old is not None and old["kind"] != ch["kind"] and not ch.get("target"):
                raise Invalid(f"channels.{i}.target", "a channel of another kind needs its "
                                                      "target")
            target = ch.get("target") or (old["target"] if old else None)
            if not target:
                raise Invalid(f"channels.{i}.target", "required for a new channel")
            secret = ch["secret"] if ch.get("secret") is not None else (
                old["secret"] if old else None)
            quiet = ch.get("quiet_hours") or {}
            q = (quiet.get("from"), quiet.get("until"), quiet.get("time_zone"))
            if old is not None:
                keep.add(old["id"])
                conn.execute(
                    "UPDATE contact_channels SET person_id = %s, position = %s, kind = %s, "
                    "target = %s, secret = %s, lang = %s, quiet_from = %s, quiet_until = %s, "
                    "quiet_tz = %s WHERE id = %s",
                    (ch.get("person_id"), pos, ch["kind"], target, secret, ch["lang"], *q,
                     old["id"]))
            else:
                conn.execute(
                    "INSERT INTO contact_channels (org_id, person_id, position, kind, target, "
                    "secret, lang, quiet_from, quiet_until, quiet_tz) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (org_id, ch.get("person_id"), pos, ch["kind"], target, secret, ch["lang"],
                     *q))
        gone = sorted(set(current) - keep)
        if gone:
            conn.execute("UPDATE contact_channels SET removed_at = now() WHERE id = ANY(%s)",
                         (gone,))


def channels_for(conn: psycopg.Connection, *, org_ids: list[int]) -> dict[int, list[Row]]:
    """Every current channel (with secrets, for sending) of each organization, people's
    and defaults, in order."""
    out: dict[int, list[Row]] = {o: [] for o in org_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(
                f"SELECT org_id, {_CHANNEL} FROM contact_channels WHERE org_id = ANY(%s) "
                "AND removed_at IS NULL ORDER BY person_id NULLS FIRST, position, id",
                (org_ids,)).fetchall():
            out[row["org_id"]].append(row)
    return out


def channel(conn: psycopg.Connection, *, channel_id: int) -> Row | None:
    """One channel with its secret (None if removed)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT org_id, {_CHANNEL} FROM contact_channels WHERE id = %s "
                           "AND removed_at IS NULL", (channel_id,)).fetchone()


def record_outcome(conn: psycopg.Connection, *, channel_id: int, error: str | None) -> None:
    """Count a failed attempt of a channel (or reset the count on a delivery)."""
    if error is None:
        conn.execute("UPDATE contact_channels SET failures = 0, last_ok_at = now() "
                     "WHERE id = %s", (channel_id,))
    else:
        conn.execute("UPDATE contact_channels SET failures = failures + 1, last_error = %s, "
                     "last_failed_at = now() WHERE id = %s", (error[:300], channel_id))


def failing_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Current channels failing (FAILING_AFTER consecutive failed attempts), by kind."""
    rows = _rows(conn, "SELECT kind, count(*) FROM contact_channels WHERE removed_at IS NULL "
                 "AND failures >= %s GROUP BY kind", (FAILING_AFTER,))
    return {str(k): int(n) for k, n in rows}


def failing_by_org(conn: psycopg.Connection) -> dict[int, int]:
    """Current channels failing, by organization (for the admins' organizations page)."""
    rows = _rows(conn, "SELECT org_id, count(*) FROM contact_channels WHERE removed_at IS NULL "
                 "AND failures >= %s GROUP BY org_id", (FAILING_AFTER,))
    return {int(o): int(n) for o, n in rows}


# --- SMS gateway -----------------------------------------------------------------------
_GATEWAY = ("url, method, content_type, headers, body, api_key, api_secret, sign_name, "
            "template_id, daily_cap, signing, updated_at")


def gateway(conn: psycopg.Connection, *, org_id: int, masked: bool = False) -> Row | None:
    """The organization's SMS gateway (secrets masked if asked)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_GATEWAY} FROM sms_gateways WHERE org_id = %s",
                          (org_id,)).fetchone()
    if row is not None and masked:
        row["api_key"], row["api_secret"] = mask(row["api_key"]), mask(row["api_secret"])
    return row


def put_gateway(conn: psycopg.Connection, *, org_id: int, gw: Row | None) -> None:
    """Set (or with None remove) the SMS gateway; a key or secret not given is kept."""
    if gw is None:
        conn.execute("DELETE FROM sms_gateways WHERE org_id = %s", (org_id,))
        return
    conn.execute(
        "INSERT INTO sms_gateways AS g (org_id, url, method, content_type, headers, body, "
        "api_key, api_secret, sign_name, template_id, daily_cap, signing) "
        "VALUES (%(org)s, %(url)s, %(method)s, %(content_type)s, %(headers)s, %(body)s, "
        "%(api_key)s, %(api_secret)s, %(sign_name)s, %(template_id)s, %(daily_cap)s, "
        "%(signing)s) "
        "ON CONFLICT (org_id) DO UPDATE SET url = EXCLUDED.url, method = EXCLUDED.method, "
        "content_type = EXCLUDED.content_type, headers = EXCLUDED.headers, "
        "body = EXCLUDED.body, api_key = coalesce(EXCLUDED.api_key, g.api_key), "
        "api_secret = coalesce(EXCLUDED.api_secret, g.api_secret), "
        "sign_name = EXCLUDED.sign_name, template_id = EXCLUDED.template_id, "
        "daily_cap = EXCLUDED.daily_cap, signing = EXCLUDED.signing, updated_at = now()",
        {**gw, "org": org_id, "headers": Jsonb(gw.get("headers") or {}),
         "signing": gw.get("signing") or "none"})

