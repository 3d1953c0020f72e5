"""Alerts in the database: :mod:`.queries` reads them, :mod:`.changes` is the only code that
changes them (row, audit trail and publication together)."""

from storage.alerts import changes
from storage.alerts.changes import CLEARED_BY, WHISTLE, AlertChange
from storage.alerts.queries import (
    ALERT_COLUMNS,
    ALERT_FROM,
    SEVERITY_SQL,
    chain,
    due_for_escalation,
    events,
    get,
    get_visible,
    list_visible,
    open_counts,
    open_for_elevator,
    open_keys,
    outbox_pending,
    with_scope,
)

__all__ = ["ALERT_COLUMNS", "ALERT_FROM", "CLEARED_BY", "SEVERITY_SQL", "WHISTLE", "AlertChange",
           "chain", "changes", "due_for_escalation", "events", "get", "get_visible",
           "list_visible", "open_counts", "open_for_elevator", "open_keys", "outbox_pending",
           "with_scope"]
