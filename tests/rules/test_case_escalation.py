"""Cases on the escalation job's clock (rules.escalation.cases_due, injected `now`): an
unanswered case climbs the chain, reporting for duty stops the climb, a required party past
`accept` is late, a rescue nobody reaches is overdue and climbs to the street office and
supervision, a resolved case closes itself after a week."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from rules import escalation
from rules.policy import Policy
from storage import alerts, cases
from storage.cases import duty
from tests.builders import Fleet, raise_alert, seed_fleet

# Reminders (issue 15) have tests of their own (tests/rules/test_people_routing.py).
POLICY = replace(Policy(), step_s={"critical": 60.0, "major": 600.0, "minor": 86400.0,
                                   "warning": 3 * 86400.0},
                 cases={k: replace(v, remind_s=None) for k, v in Policy().cases.items()})


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


def run(db, t0: datetime, seconds: float) -> list[dict]:
    return escalation.cases_due(db, policy=POLICY, now=t0 + timedelta(seconds=seconds))


def parties(db, case_id: int) -> dict[str, dict]:
    return {p["org_name"]: p for p in cases.get(db, case_id=case_id)["parties"]}


def on_duty(db, case_id: int, fleet: Fleet, org: str, kind: str) -> None:
    with db.transaction():
        duty.lock(db, case_id=case_id)
        duty.duty(db, case_id=case_id, actor=f"{kind}:{org}", org_id=fleet.orgs[org],
                  org_kind=kind, note=None)


def test_an_unanswered_fault_case_climbs_one_level_per_step_and_duty_stops_it(db, fleet):
    t0 = datetime.now(UTC)
    alert_id = raise_alert(db, "E1", "power_loss", "major", at=t0)
    case_id = cases.queries.case_of_alert(db, alert_id=alert_id)
    assert case_id is not None
    assert run(db, t0, 599) == []
    [step] = run(db, t0, 601)
    assert (step["level"], step["why"]) == (1, "unanswered")
    steps = run(db, t0, 1202)  # past accept (15 min) too: both required parties are late
    assert sorted(s["change"] for s in steps) == ["escalated", "late"]
    assert [s["level"] for s in steps if s["change"] == "escalated"] == [2]
    called = {n for n, p in parties(db, case_id).items() if p["called_at"]}
    assert called == {"prop_a", "maint_1", "community_d1", "street_d1"}
    # the alert gathered into the case shows the case's level
    assert alerts.get(db, alert_id=alert_id)["escalation_level"] == 2
    on_duty(db, case_id, fleet, "street_d1", "street")
    assert [s for s in run(db, t0, 1900) if "level" in s] == []
    assert cases.get(db, case_id=case_id)["level"] == 2


def test_a_rescue_on_duty_but_unreached_is_overdue_and_climbs_to_street_and_supervision(
        db, fleet):
    t0 = datetime.now(UTC)
    alert_id = raise_alert(db, "E1", "trapped_passenger", "critical", at=t0)
    case_id = cases.queries.case_of_alert(db, alert_id=alert_id)
    on_duty(db, case_id, fleet, "prop_a", "property")
    assert run(db, t0, 121) == []  # someone is on duty: no climb
    late = run(db, t0, 301)  # maintenance never reported for duty within 5 minutes
    assert [c["change"] for c in late] == ["late"]
    marks = parties(db, case_id)
    assert marks["maint_1"]["late"] and not marks["prop_a"]["late"]
    assert not cases.get(db, case_id=case_id)["overdue"]
    [step] = run(db, t0, 1801)  # nobody arrived within 30 minutes: the street office
    assert (step["why"], step["level"]) == ("overdue", 2)
    assert {o["name"] for o in step["reached"]} == {"street_d1", "community_d1"}
    case = cases.get(db, case_id=case_id)
    assert case["overdue"] and case["state"] == "open"
    assert run(db, t0, 1850) == []
    [step] = run(db, t0, 1862)  # one step delay later: supervision
    assert (step["level"], [o["name"] for o in step["reached"]]) == (3, ["sup_d1"])
    case = cases.get(db, case_id=case_id)
    assert case["level"] == 3
    called = {p["org_name"] for p in case["parties"] if p["called_at"]}
    assert {"street_d1", "community_d1", "sup_d1"} <= called
    assert "sup_d2" not in called
    assert [e["action"] for e in cases.events(db, case_id=case_id)] == [
        "opened", "alert_added", "on_duty", "late", "overdue", "escalated", "escalated"]
    # arriving does not end overdue; resolving does; a week later it closes itself
    with db.transaction():
        duty.arrive(db, case_id=case_id, actor="property:prop_a", org_id=fleet.orgs["prop_a"],
                    note=None)
    assert cases.get(db, case_id=case_id)["overdue"]
    with db.transaction():
        duty.resolve(db, case_id=case_id, actor="property:prop_a",
                     org_id=fleet.orgs["prop_a"], cause="door_system", note="fixed")
    case = cases.get(db, case_id=case_id)
    assert (case["state"], case["overdue"]) == ("resolved", False)
    resolved = case["resolved_at"]
    closed = escalation.cases_due(db, policy=POLICY, now=resolved + timedelta(days=7, seconds=1))
    assert closed == [{"case_id": case_id, "change": "closed"}]
    assert cases.get(db, case_id=case_id)["state"] == "closed"


def test_a_site_case_calls_the_districts_street_and_community(db, fleet):
    t0 = datetime.now(UTC)
    from core.cases import DEFAULT_LIMITS, CaseKind
    from storage.cases import changes

    with db.transaction():
        case_id, opened = changes.open_responsibility_gap(
            db, site_id=fleet.sites["S1"], elevator_pk=None, reason="the property left",
            actor="supervision:sup_d1", org_id=fleet.orgs["sup_d1"],
            limits=DEFAULT_LIMITS[CaseKind.RESPONSIBILITY_GAP], now=t0)
    assert opened
    marks = parties(db, case_id)
    assert {n for n, p in marks.items() if p["required"]} == {"street_d1", "community_d1"}
    done = run(db, t0, 86401)  # a day unanswered: late, and one level up (minor: 1 day)
    assert sorted(c["change"] for c in done) == ["escalated", "late"]
    marks = parties(db, case_id)
    assert marks["street_d1"]["late"] and marks["community_d1"]["late"]
