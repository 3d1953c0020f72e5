"""Elevators taken out of service for good (CONTRACT section 5): they leave the default
lists, their telemetry is rejected, the rules engine stops watching them and their open
alerts are resolved. Their open cases are left to people."""

from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

from storage import devices, outbox
from storage.alerts import changes
from storage.errors import Conflict

NOTE = "decommissioned"


def decommission(conn: psycopg.Connection, *, elevator_pk: int, reason: str, actor: str,
                 org_id: int | None) -> list[changes.AlertChange]:
    """Decommission an elevator now, as ``actor``; Conflict if it already is. Revokes its
    device's broker credentials, resolves its open alerts (note ``decommissioned``) and
    announces the change on the registry channel, all in one transaction; the alert
    changes made."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT decommissioned_at FROM elevators WHERE pk = %s "
                          "FOR NO KEY UPDATE", (elevator_pk,)).fetchone()
        if row is None or row[0] is not None:
            raise Conflict("this elevator is already decommissioned"
                           + (f" (since {row[0].isoformat()})" if row else ""))
        cur.execute("UPDATE elevators SET decommissioned_at = now(), decommissioned_by = %s, "
                    "decommission_reason = %s WHERE pk = %s", (actor, reason, elevator_pk))
        devices.revoke(conn, elevator_pk=elevator_pk, by=actor, note=NOTE, missing_ok=True)
        resolved = changes.resolve_all_of_elevator(conn, elevator_pk=elevator_pk, actor=actor,
                                                   org_id=org_id, note=NOTE)
        outbox.notify(conn, outbox.REGISTRY_CHANNEL, {"elevator_pk": elevator_pk,
                                                      "change": "decommissioned"})
    return resolved


def decommissioned(conn: psycopg.Connection, pks: list[int]) -> set[int]:
    """Which of these elevators are decommissioned, for the caller's transaction: the rows
    are locked (FOR SHARE) so a decommission cannot commit between this answer and the
    caller's writes, and one that just committed is seen."""
    if not pks:
        return set()
    with conn.cursor(row_factory=tuple_row) as cur:
        return {int(r[0]) for r in cur.execute(
            "SELECT pk, decommissioned_at IS NOT NULL FROM elevators WHERE pk = ANY(%s) "
            "ORDER BY pk FOR SHARE", (sorted(set(pks)),)).fetchall() if r[1]}
