"""Cases under concurrency: several writers on one case at the same moment, through the
real API and the real case-change seam, each on its own connection.

Two kinds of race per scenario: threads released together by a barrier (the moment as it
comes), and a forced interleaving, where one side holds its transaction open until
PostgreSQL shows the other waiting on a lock, so the contended path is certainly taken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest

from core.cases import DEFAULT_LIMITS, CaseKind
from storage.alerts import changes as alert_changes
from storage.cases import changes, duty
from tests.builders import World, client, ok, raise_alert
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results (or the
    exceptions they raised), in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


class Background:
    """One call in a thread; ``result()`` waits for it (re-raising its exception)."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._out: list[Any] = []
        self._thread = threading.Thread(target=lambda: self._run(call), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._out.append(call())
        except Exception as exc:
            self._out.append(exc)

    def result(self) -> Any:
        self._thread.join(30)
        assert self._out, "the call did not finish"
        if isinstance(self._out[0], Exception):
            raise self._out[0]
        return self._out[0]


def lock_waiters(db: psycopg.Connection) -> int:
    """Sessions of this database waiting on a lock now."""
    row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def transaction(pg_url: str) -> Iterator[psycopg.Connection]:
    """A connection of its own in one transaction, committed at the end of the block."""
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        yield conn


def api(world: World, name: str) -> httpx.Client:
    """A fresh client (one per thread) with the organization's token."""
    return client(world.url, world.tokens[name])


def rescue_case(world: World, db: psycopg.Connection, eid: str = "E1") -> int:
    alert_id = raise_alert(db, eid, "trapped_passenger", "critical")
    return int(ok(world.admin.get(f"/alerts/{alert_id}"))["case_id"])


def on_duty_events(world: World, case_id: int) -> list[int]:
    return sorted(e["org_id"] for e in ok(world.admin.get(f"/cases/{case_id}"))["events"]
                  if e["action"] == "on_duty")


def post(world: World, name: str, path: str, body: dict[str, Any] | None = None
         ) -> Callable[[], int]:
    def call() -> int:
        with api(world, name) as c:
            return c.post(path, json=body or {}).status_code
    return call


# --- reporting for duty -----------------------------------------------------------------
@pytest.mark.parametrize("race", ["barrier", "forced"])
def test_two_organizations_reporting_for_duty_at_once_are_both_on_duty(
        world: World, db: psycopg.Connection, pg_url: str, race: str):
    case_id = rescue_case(world, db)
    calls = [post(world, name, f"/cases/{case_id}/duty") for name in ("prop_a", "maint_1")]
    if race == "barrier":
        codes = together(*calls)
    else:
        with transaction(pg_url) as holder:
            duty.lock(holder, case_id=case_id)
            running = [Background(c) for c in calls]
            wait_until(lambda: lock_waiters(db) >= 2, 10, message="both waiting on the case")
        codes = [r.result() for r in running]
    assert codes == [200, 200]
    case = ok(world.admin.get(f"/cases/{case_id}"))
    on_duty = {p["org_name"] for p in case["parties"] if p["on_duty_at"]}
    assert on_duty == {"prop_a", "maint_1"}  # no lost update
    assert on_duty_events(world, case_id) == sorted([world.orgs["prop_a"],
                                                     world.orgs["maint_1"]])


@pytest.mark.parametrize("race", ["barrier", "forced"])
def test_one_organization_reporting_for_duty_twice_at_once_succeeds_once(
        world: World, db: psycopg.Connection, pg_url: str, race: str):
    case_id = rescue_case(world, db)
    calls = [post(world, "prop_a", f"/cases/{case_id}/duty") for _ in range(2)]
    if race == "barrier":
        codes = together(*calls)
    else:
        with transaction(pg_url) as holder:
            duty.lock(holder, case_id=case_id)
            running = [Background(c) for c in calls]
            wait_until(lambda: lock_waiters(db) >= 2, 10, message="both waiting on the case")
        codes = [r.result() for r in running]
    assert sorted(codes) == [200, 409]
    assert on_duty_events(world, case_id) == [world.orgs["prop_a"]]


# --- a resolve racing the automatic clear of the gathered alert -------------------------
def _clear(pg_url: str, pk: int) -> Callable[[], Any]:
    def call() -> Any:
        now = datetime.now(UTC)
        with transaction(pg_url) as conn:
            return alert_changes.clear(conn, elevator_pk=pk, kind="trapped_passenger",
                                       now=now, at=now, details={"occupied": False})
    return call


@pytest.mark.parametrize("race", ["barrier", "clear_first", "resolve_first"])
def test_a_resolve_racing_the_automatic_clear_leaves_one_consistent_case(
        world: World, db: psycopg.Connection, pg_url: str, race: str):
    case_id = rescue_case(world, db)
    [alert_id] = ok(world.admin.get(f"/cases/{case_id}"))["alerts"]
    ok(world.as_("prop_a").post(f"/cases/{case_id}/duty"))
    pk = int(db.execute("SELECT pk FROM elevators WHERE id = 'E1'").fetchone()[0])
    resolve = post(world, "prop_a", f"/cases/{case_id}/resolve",
                   {"cause": "door_system", "note": "door reset"})
    if race == "barrier":
        code, cleared = together(resolve, _clear(pg_url, pk))
        assert not isinstance(cleared, Exception)
    elif race == "clear_first":
        now = datetime.now(UTC)
        with transaction(pg_url) as conn:
            assert alert_changes.clear(conn, elevator_pk=pk, kind="trapped_passenger",
                                       now=now, at=now, details={}) is not None
            running = Background(resolve)
            wait_until(lambda: lock_waiters(db) >= 1, 10,
                       message="the resolve waiting on the alert")
        code = running.result()
    else:  # resolve_first, through the case-change seam the API uses
        with transaction(pg_url) as conn:
            duty.lock(conn, case_id=case_id)
            duty.resolve(conn, case_id=case_id, actor="property:prop_a", org_id=world.orgs[
                "prop_a"], cause="door_system", note="door reset")
            clearing = Background(_clear(pg_url, pk))
            wait_until(lambda: lock_waiters(db) >= 1, 10,
                       message="the clear waiting on the alert")
        assert clearing.result() is None  # resolved already: nothing to clear
        code = 200
    assert code == 200
    case = ok(world.admin.get(f"/cases/{case_id}"))
    assert (case["state"], case["cause"]) == ("resolved", "door_system")
    alert = ok(world.admin.get(f"/alerts/{alert_id}"))
    assert alert["state"] == "resolved"
    assert [e["action"] for e in alert["events"]].count("resolved") == 1
    assert db.execute("SELECT count(*) FROM cases").fetchone() == (1,)
    assert [e["action"] for e in case["events"]].count("resolved") == 1


# --- two openers of one elevator's rescue case -------------------------------------------
OPEN_BY_PHONE = {"kind": "rescue", "elevator_id": "E1", "description": "caller: stuck in lift",
                 "trapped_count": 1}


def _engine(pg_url: str) -> Callable[[], int]:
    def call() -> int:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            return raise_alert(conn, "E1", "trapped_passenger", "critical")
    return call


@pytest.mark.parametrize("race", ["barrier", "engine_first", "phone_first"])
def test_the_engine_and_a_rescue_organization_opening_at_once_make_one_case(
        world: World, db: psycopg.Connection, pg_url: str, race: str):
    phone = post(world, "rescue_d1", "/cases", OPEN_BY_PHONE)
    if race == "barrier":
        code, alert_id = together(phone, _engine(pg_url))
        assert code in (200, 201) and isinstance(alert_id, int)
    elif race == "engine_first":
        with transaction(pg_url) as conn:
            alert_id = raise_alert(conn, "E1", "trapped_passenger", "critical")
            running = Background(phone)
            wait_until(lambda: lock_waiters(db) >= 1, 10,
                       message="the phone call waiting on the new case")
        assert running.result() == 200  # joined the engine's case
    else:
        pk = int(db.execute("SELECT pk FROM elevators WHERE id = 'E1'").fetchone()[0])
        site = int(db.execute("SELECT site_id FROM elevators WHERE pk = %s",
                              (pk,)).fetchone()[0])
        with transaction(pg_url) as conn:
            changes.open_case(conn, kind=CaseKind.RESCUE, site_id=site, elevator_pk=pk,
                              source="org", severity="critical",
                              description=OPEN_BY_PHONE["description"],
                              actor="rescue:rescue_d1", org_id=world.orgs["rescue_d1"],
                              limits=DEFAULT_LIMITS[CaseKind.RESCUE], now=datetime.now(UTC))
            engine = Background(_engine(pg_url))
            wait_until(lambda: lock_waiters(db) >= 1, 10,
                       message="the engine waiting on the new case")
        alert_id = engine.result()
    rows = db.execute("SELECT id, state, source FROM cases").fetchall()
    assert len(rows) == 1 and rows[0][1] == "open"
    case = ok(world.admin.get(f"/cases/{rows[0][0]}"))
    assert case["alerts"] == [alert_id]
    assert {"prop_a", "maint_1", "rescue_d1"} <= {p["org_name"] for p in case["parties"]}
    assert ok(world.admin.get(f"/alerts/{alert_id}"))["case_id"] == case["id"]
