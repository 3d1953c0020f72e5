"""Case events on the server-sent streams: GET /cases/stream (case events only) and
GET /alerts/stream (alert and case events), scoped like GET /cases, never a contact."""

from __future__ import annotations

import httpx
import pytest

from api.routes import stream
from core.domain import OrgKind, Principal
from storage.cases import queries
from tests.api.test_alerts_stream import SseReader, bearer
from tests.builders import World, ok, raise_alert
from tests.helpers import wait_until

CONTACT = "139 1234 5678"


@pytest.fixture(autouse=True)
def quick_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "KEEPALIVE_S", 0.3)


def test_case_events_reach_those_who_see_the_case_without_contacts(world: World, db):
    cases_url = f"{world.url}/api/v1/cases/stream"
    readers = {name: SseReader(cases_url, headers=bearer(world.tokens[name]))
               for name in ("prop_a", "prop_b", "maint_1", "maint_2")}
    readers["sup_d1_alerts"] = SseReader(f"{world.url}/api/v1/alerts/stream",
                                         headers=bearer(world.tokens["sup_d1"]))
    readers["e3_only"] = SseReader(cases_url, headers=bearer(world.tokens["sup_d1"]),
                                   params={"elevator_id": "E3"})
    try:
        for name, reader in readers.items():
            wait_until(lambda r=reader: "connected" in r.comments, 10,
                       message=f"{name}'s stream to open")
        alert_id = raise_alert(db, "E1", "trapped_passenger", "critical")
        opened = readers["prop_a"].next()
        assert (opened["event"], opened["change"]) == ("case", "opened")
        case = opened["case"]
        assert (case["kind"], case["elevator_id"], case["alerts"]) == ("rescue", "E1",
                                                                       [alert_id])
        assert opened["id"].startswith("case-")
        assert not any(k.startswith("scope_") for k in case) and "contact" not in case
        assert readers["maint_1"].next()["case"]["id"] == case["id"]
        # /alerts/stream: the alert, then its case
        first, second = readers["sup_d1_alerts"].next(), readers["sup_d1_alerts"].next()
        assert (first["event"], first["alert"]["id"]) == ("alert", alert_id)
        assert (second["event"], second["case"]["id"]) == ("case", case["id"])

        # a whole-site case, called in with a contact: the site's property organization
        # and the maintenance organization of one of its elevators see it
        site_case = ok(world.as_("street_d1").post("/cases", json={
            "kind": "complaint", "description": "the lobby lift smells",
            "site_id": world.sites["S1"], "contact": CONTACT}), 201)
        got = readers["prop_a"].next()
        assert (got["change"], got["case"]["id"]) == ("opened", site_case["id"])
        assert got["case"]["elevator_id"] is None and "contact" not in got["case"]
        assert readers["maint_1"].next()["case"]["id"] == site_case["id"]

        ok(world.as_("prop_a").post(f"/cases/{case['id']}/duty", json={"note": "coming"}))
        duty = readers["maint_1"].next()
        assert (duty["change"], duty["case"]["id"]) == ("on_duty", case["id"])
        assert [p["on_duty_at"] is not None for p in duty["case"]["parties"]
                if p["kind"] == "property"] == [True]
        for name in ("prop_b", "maint_2", "e3_only"):
            assert readers[name].events.empty(), name
        wait_until(lambda: "keep-alive" in readers["prop_b"].comments, 5,
                   message="a keep-alive comment")
        assert readers["prop_b"].events.empty()
        raw = [readers["sup_d1_alerts"].next() for _ in range(3)]
        assert CONTACT not in repr(raw)
    finally:
        for reader in readers.values():
            reader.close()


def test_the_cases_stream_needs_a_valid_token_and_is_not_a_case_id(world: World):
    url = f"{world.url}/api/v1/cases/stream"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, params={"token": "forged"}, timeout=5).status_code == 401
    assert world.admin.get("/cases/12345").status_code == 404  # still the case route


def test_a_party_sees_a_case_beyond_its_scope_and_maintenance_a_sites_case():
    row = {"elevator_id": None, "district": "D2", "scope_property_org_id": 1,
           "scope_maintenance_org_id": None, "scope_site_maintenance_org_ids": [4],
           "scope_party_org_ids": [9]}
    rescue = Principal(org_id=9, kind=OrgKind.RESCUE, name="r", district="D1")
    maint = Principal(org_id=4, kind=OrgKind.MAINTENANCE, name="m")
    other = Principal(org_id=5, kind=OrgKind.MAINTENANCE, name="o")
    assert queries.can_see(rescue, row) and queries.can_see(maint, row)
    assert not queries.can_see(other, row)
    assert not queries.can_see(maint, {**row, "elevator_id": "E9"})
    assert queries.can_see(Principal(org_id=None, kind=OrgKind.ADMIN, name="a"), row)
