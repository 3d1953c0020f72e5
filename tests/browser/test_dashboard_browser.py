"""The dashboard in a real headless Chromium: sign in, see the fleet, report for duty on an
alert and watch the state change everywhere, arrive, resolve; scoping; charts; seals."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from tests.builders import World, ok, raise_alert, seen, telemetry

pytestmark = pytest.mark.browser


def sign_in(context: Any, token: str, path: str = "/") -> Any:
    """A new page, signed in through the form, at path."""
    page = context.new_page()
    page.goto(path)
    page.get_by_text("Sign in with an API token instead").click()
    page.get_by_label("Organization token").fill(token)
    page.locator("#token-signin").get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(path.split("?")[0]) + r"(\?.*)?$"))
    return page


def test_sign_in_see_the_fleet_report_for_duty_arrive_and_resolve(
        context: Any, world: World, db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    seen(db, "E1", "E2", "E3")
    alert_id = raise_alert(db, "E1", "overspeed", "critical")

    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
    page.get_by_text("Sign in with an API token instead").click()
    page.get_by_label("Organization token").fill("wrong token")
    page.locator("#token-signin").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or has been revoked")
    page.get_by_label("Organization token").fill(world.tokens["prop_a"])
    page.locator("#token-signin").get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/$"))

    # The fleet: prop_a's elevators only, E1 in fault (said in words, not only colour).
    tile = page.locator("#tile-E1")
    expect(tile).to_have_attribute("data-status", "fault")
    expect(tile.locator(".status-text")).to_have_text("Fault")
    expect(tile).to_contain_text("overspeed · critical")
    expect(page.locator("#tile-E3")).to_have_attribute("data-status", "normal")
    expect(page.locator("#tile-E2")).to_have_count(0)
    expect(page.locator('[data-count="fault"]')).to_have_text("1")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    # Live: a new alert elsewhere turns E3's tile without a reload.
    page.evaluate("window.__notReloaded = true")
    raise_alert(db, "E3", "door_fault", "major")
    expect(page.locator("#tile-E3")).to_have_attribute("data-status", "fault")
    expect(page.locator("#tile-E3 .status-text")).to_have_text("Fault")
    expect(page.locator('[data-count="fault"]')).to_have_text("2")
    assert page.evaluate("window.__notReloaded") is True

    # The queue in a second tab: report for duty; the fleet tab follows.
    queue = context.new_page()
    queue.goto("/alerts")
    row = queue.locator(f"#alert-{alert_id}")
    expect(row).to_contain_text("overspeed")
    expect(row).to_contain_text("called: prop_a, maint_1")
    expect(queue.locator("#live")).to_have_attribute("data-state", "live")
    row.get_by_role("button", name="Report for duty").click()
    expect(row.locator(".state")).to_have_text("acknowledged")
    expect(row).to_contain_text("by property:prop_a")
    expect(row.get_by_role("button", name="Report for duty")).to_have_count(0)
    expect(page.locator("#tile-E1")).to_contain_text("acknowledged")
    assert page.evaluate("window.__notReloaded") is True
    acked = ok(world.admin.get(f"/alerts/{alert_id}"))
    assert acked["state"] == "acknowledged"
    assert acked["acknowledged_by"].startswith("property:prop_a")

    # The alert page: arrive on site, resolve with a note; the audit trail records who.
    row.get_by_role("link", name="overspeed").click()
    expect(queue).to_have_url(re.compile(rf"/alerts/{alert_id}$"))
    state = queue.locator("#alert-state")
    expect(state).to_have_attribute("data-state", "acknowledged")
    expect(queue.locator("#responsible")).to_have_text("prop_a")
    queue.get_by_role("button", name="Arrived on site").click()
    expect(queue.locator("#alert-state")).to_contain_text("by property:prop_a")
    expect(queue.get_by_role("button", name="Arrived on site")).to_have_count(0)
    queue.get_by_placeholder("What was done").fill("governor rope re-tensioned")
    queue.get_by_role("button", name="Resolve").click()
    expect(queue.locator("#alert-state")).to_have_attribute("data-state", "resolved")
    expect(queue.locator("#trail tbody tr")).to_have_count(4)
    actions = queue.locator("#trail tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.action)")
    assert actions == ["raised", "acknowledged", "arrived", "resolved"]
    expect(queue.locator("#trail")).to_contain_text("governor rope re-tensioned")

    # Back on the fleet tab, without reloading: E1 is normal again.
    expect(page.locator("#tile-E1")).to_have_attribute("data-status", "normal")
    expect(page.locator('[data-count="fault"]')).to_have_text("1")
    assert page.evaluate("window.__notReloaded") is True


def test_another_property_company_sees_none_of_it(context: Any, world: World,
                                                  db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    seen(db, "E1", "E2", "E3")
    alert_id = raise_alert(db, "E1", "overspeed", "critical")
    page = sign_in(context, world.tokens["prop_b"])
    expect(page.locator("#tile-E2")).to_be_visible()
    expect(page.locator("#tile-E1")).to_have_count(0)
    expect(page.locator("#tile-E3")).to_have_count(0)
    page.goto("/alerts")
    expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)
    response = page.goto("/elevators/E1")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"/alerts/{alert_id}")
    assert response is not None and response.status == 404
    assert page.goto("/supervision").status == 403


def test_the_elevator_page_draws_charts_and_an_inspector_seals(
        context: Any, world: World, db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    seen(db, "E1")
    samples = telemetry(db, "E1", hours=2)
    page = sign_in(context, world.tokens["sup_d1"], "/elevators/E1")
    for name in ("position", "load", "temperature", "vibration"):
        chart = page.locator(f'[data-chart="{name}"]')
        expect(chart).to_have_attribute("data-state", "drawn")
        expect(chart.locator("canvas")).to_have_count(1)
    points = int(page.locator('[data-chart="position"]').get_attribute("data-points") or 0)
    assert 200 < points <= 361  # 30 s buckets over 3 hours, data for 2 of them
    expect(page.locator("#chart-note")).to_contain_text(f"{samples} samples")
    page.get_by_role("button", name="1 h").click()
    expect(page.locator("#charts")).to_have_attribute("data-hours", "1")
    expect(page.locator('[data-chart="load"]')).to_have_attribute(
        "data-points", re.compile(r"^3(5[5-9]|6[0-2])$"))  # 10 s buckets over 1 hour

    page.get_by_label("Notes").first.fill("brake lining worn")
    page.get_by_role("button", name="Seal: take out of service").click()
    expect(page.locator("#elevator-head .status-text")).to_have_text("Out of service")
    expect(page.locator("#sealed")).to_contain_text("yes")
    expect(page.locator("#inspections")).to_contain_text("brake lining worn")
    page.get_by_role("button", name="Unseal: back in service").click()
    expect(page.locator("#sealed")).to_have_text("no")
    expect(page.locator("#elevator-head .status-text")).not_to_have_text("Out of service")
