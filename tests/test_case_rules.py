"""The case state machine (core.cases.check) and the [cases.<kind>] limits, without a
database: every transition it allows and every refusal with its status."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cases import (
    CATEGORY_KIND,
    DEFAULT_LIMITS,
    REQUIRED,
    Action,
    CaseKind,
    CaseState,
    Refusal,
    check,
    load_limits,
)
from core.domain import OrgKind

ALL_KINDS = list(OrgKind)


def refused(action: Action, **kw) -> int:
    try:
        check(action, **kw)
    except Refusal as exc:
        return exc.status
    return 0


def case(kind: str = "rescue", state: str = "open") -> dict:
    return {"kind": kind, "state": state}


@pytest.mark.parametrize("state", ["open", "on_site"])
def test_anyone_who_sees_an_active_case_may_report_for_duty_once(state):
    for kind in ALL_KINDS:
        assert refused(Action.DUTY, **case(state=state), actor_kind=kind) == 0
        assert refused(Action.DUTY, **case(state=state), actor_kind=kind, on_duty=True) == 409


@pytest.mark.parametrize("state", ["resolved", "closed", "cancelled"])
def test_duty_on_a_finished_case_is_409(state):
    assert refused(Action.DUTY, **case(state=state), actor_kind=OrgKind.PROPERTY) == 409


@pytest.mark.parametrize("action", [Action.ARRIVE, Action.RESCUED, Action.RESOLVE])
def test_the_work_is_for_parties_on_duty(action):
    kw = {"cause": "mechanical"}
    assert refused(action, **case(), actor_kind=OrgKind.MAINTENANCE, is_party=True,
                   **kw) == 403
    assert refused(action, **case(), actor_kind=OrgKind.MAINTENANCE, is_party=True,
                   on_duty=True, **kw) == 0
    assert refused(action, **case(), actor_kind=OrgKind.ADMIN, **kw) == 0


def test_arrival_rescue_and_resolve_refusals():
    on = {"actor_kind": OrgKind.MAINTENANCE, "is_party": True, "on_duty": True}
    assert refused(Action.ARRIVE, **case(), **on, arrived=True) == 409
    assert refused(Action.ARRIVE, **case(state="resolved"), **on) == 409
    assert refused(Action.RESCUED, **case(kind="fault"), **on) == 409
    assert refused(Action.RESCUED, **case(), **on, rescued=True) == 409
    assert refused(Action.RESOLVE, **case(), **on) == 422  # no cause
    assert refused(Action.RESOLVE, **case(), **on, cause="bad luck") == 422
    assert refused(Action.RESOLVE, **case(state="on_site"), **on, cause="other") == 0
    assert refused(Action.RESOLVE, **case(state="resolved"), **on, cause="other") == 409


def test_closing_street_supervision_admin_and_only_supervision_for_hazards():
    for kind in (OrgKind.STREET, OrgKind.SUPERVISION, OrgKind.ADMIN):
        assert refused(Action.CLOSE, **case(state="resolved"), actor_kind=kind) == 0
        assert refused(Action.CLOSE, **case(state="open"), actor_kind=kind) == 409
        assert refused(Action.CLOSE, **case(state="closed"), actor_kind=kind) == 409
    for kind in (OrgKind.PROPERTY, OrgKind.MAINTENANCE, OrgKind.COMMUNITY, OrgKind.RESCUE):
        assert refused(Action.CLOSE, **case(state="resolved"), actor_kind=kind) == 403
    assert refused(Action.CLOSE, **case("hazard", "resolved"), actor_kind=OrgKind.STREET) == 403
    # a hazard closed by supervision skips on_site: its close is the re-inspection
    assert refused(Action.CLOSE, **case("hazard", "open"), actor_kind=OrgKind.SUPERVISION) == 0


def test_cancelling_property_street_supervision_admin():
    for kind in (OrgKind.PROPERTY, OrgKind.STREET, OrgKind.SUPERVISION, OrgKind.ADMIN):
        assert refused(Action.CANCEL, **case(), actor_kind=kind) == 0
        assert refused(Action.CANCEL, **case(state="cancelled"), actor_kind=kind) == 409
    for kind in (OrgKind.MAINTENANCE, OrgKind.COMMUNITY, OrgKind.RESCUE):
        assert refused(Action.CANCEL, **case(), actor_kind=kind) == 403


def test_notes_for_parties_and_feedback_only_once_resolved():
    assert refused(Action.NOTE, **case(), actor_kind=OrgKind.SUPERVISION) == 403
    assert refused(Action.NOTE, **case(), actor_kind=OrgKind.SUPERVISION, is_party=True) == 0
    for state in ("open", "on_site", "closed", "cancelled"):
        assert refused(Action.FEEDBACK, **case(state=state), actor_kind=OrgKind.ADMIN) == 409
    assert refused(Action.FEEDBACK, **case(state="resolved"), actor_kind=OrgKind.ADMIN) == 0


def test_the_contract_table_of_kinds():
    assert REQUIRED[CaseKind.RESCUE] == (OrgKind.PROPERTY, OrgKind.MAINTENANCE)
    assert REQUIRED[CaseKind.COMPLAINT] == (OrgKind.PROPERTY, OrgKind.STREET)
    assert REQUIRED[CaseKind.RESPONSIBILITY_GAP] == (OrgKind.STREET, OrgKind.COMMUNITY)
    assert (DEFAULT_LIMITS[CaseKind.RESCUE].accept_s, DEFAULT_LIMITS[CaseKind.RESCUE].arrive_s,
            DEFAULT_LIMITS[CaseKind.RESCUE].resolve_s) == (300, 1800, 7200)
    assert DEFAULT_LIMITS[CaseKind.HAZARD].arrive_s is None
    assert CATEGORY_KIND["trapped"] == CaseKind.RESCUE
    assert CATEGORY_KIND["complaint"] == CaseKind.COMPLAINT
    assert {CATEGORY_KIND[c] for c in ("stopped", "door", "noise", "other")} == {
        CaseKind.FAULT}
    assert {s.value for s in CaseState} == {"open", "on_site", "resolved", "closed",
                                            "cancelled"}


def test_limits_from_the_rules_file_with_file_and_line(tmp_path: Path):
    path = tmp_path / "rules.toml"
    path.write_text('[engine]\nstationary_mps = 0.05\n\n[cases.rescue]\naccept = "1m"\n'
                    'arrive = "10m"\n\n[cases.fault]\nresolve = "2d"\n')
    limits = load_limits(path)
    assert (limits[CaseKind.RESCUE].accept_s, limits[CaseKind.RESCUE].arrive_s,
            limits[CaseKind.RESCUE].resolve_s) == (60, 600, 7200)
    assert limits[CaseKind.FAULT].resolve_s == 2 * 86400
    assert limits[CaseKind.COMPLAINT] == DEFAULT_LIMITS[CaseKind.COMPLAINT]
    for text, line, words in (
            ('[cases.rescue]\naccept = "soon"\n', 2, "duration"),
            ('\n\n[cases.rescue]\nwait = "1m"\n', 4, "unknown setting"),
            ('[cases.flood]\naccept = "1m"\n', 1, "unknown case kind"),
            ('[cases.fault]\narrive = -5\n', 2, "must be positive"),
            ('cases = 3\n', 1, "must be a table")):
        path.write_text(text)
        with pytest.raises(ValueError) as err:
            load_limits(path)
        assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
        assert words in str(err.value)
    assert load_limits(None) == DEFAULT_LIMITS
