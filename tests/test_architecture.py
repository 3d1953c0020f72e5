"""Guards of the structure (README, "Architecture"): checks over the source itself.

The import layers are checked by import-linter (`make lint`, CI); these are the rules it
cannot express.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "storage", "messaging", "ingest", "rules", "api", "simulators",
            "evaluation", "whistle")
MAX_LINES = 450

# A statement that writes one of the alert tables (SQL keywords, any case).
ALERT_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|COPY)\s+(alerts|alert_events|alert_outbox)"
    r"\b", re.IGNORECASE)
ALERT_WRITER = ROOT / "storage" / "alerts" / "changes.py"

# The same for the case tables: only the case-change seam (storage/cases) writes them.
CASE_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|COPY)\s+(cases|case_parties|case_events"
    r"|case_outbox|case_alerts|case_reports|case_notifications)\b", re.IGNORECASE)
CASE_WRITERS = {f"storage/cases/{m}.py" for m in ("changes", "duty", "timers",
                                                   "notifications")}


def sources_of_the_packages() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "migrations" not in p.parts)


def test_the_alert_change_module_is_the_only_writer_of_alerts() -> None:
    writers = {p.relative_to(ROOT).as_posix() for p in sources_of_the_packages()
               if ALERT_WRITE.search(p.read_text())}
    assert writers == {ALERT_WRITER.relative_to(ROOT).as_posix()}


def test_the_check_finds_writes_it_is_meant_to_find() -> None:
    # The guard above would pass vacuously if the pattern matched nothing.
    assert ALERT_WRITE.search("cur.execute('update alert_events set x = 1')")
    assert ALERT_WRITE.search('"INSERT INTO alerts AS a (elevator_pk"')
    assert not ALERT_WRITE.search("SELECT * FROM alerts a")
    assert len(ALERT_WRITE.findall(ALERT_WRITER.read_text())) >= 10


def test_the_case_change_seam_is_the_only_writer_of_cases() -> None:
    writers = {p.relative_to(ROOT).as_posix() for p in sources_of_the_packages()
               if CASE_WRITE.search(p.read_text())}
    assert writers == CASE_WRITERS
    assert CASE_WRITE.search("UPDATE case_parties p SET late = true")
    assert CASE_WRITE.search('\'INSERT INTO case_outbox (case_id\'')
    assert not CASE_WRITE.search("SELECT * FROM cases c")
    assert not CASE_WRITE.search("UPDATE case_partiesx")


def test_no_module_is_longer_than_a_person_can_hold_in_their_head() -> None:
    sources = sources_of_the_packages()
    assert len(sources) > 50, "the check must see the packages"
    long = {p.relative_to(ROOT).as_posix(): n for p in sources
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these along their responsibilities (over {MAX_LINES} lines)"
