"""Cases in the database: :mod:`.queries` reads them; :mod:`.changes` (opening, gathering
alerts and reports, publication), :mod:`.duty` (what people do), :mod:`.timers` (what
time does) and :mod:`.notifications` (messages to people's channels) are the only code
that changes them, row, trail and outbox together."""

from storage.cases import changes, duty, notifications, queries, timers
from storage.cases.changes import CASES_CHANNEL, WHISTLE, CaseChange
from storage.cases.queries import by_reference, events, get, get_visible, list_visible

__all__ = ["CASES_CHANNEL", "WHISTLE", "CaseChange", "by_reference", "changes", "duty",
           "events", "get", "get_visible", "list_visible", "notifications", "queries",
           "timers"]
