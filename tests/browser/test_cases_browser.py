"""The case queue in a real headless Chromium: report for duty and resolve with a cause from
the page (the buttons call the API), on a desktop and on a phone-sized screen."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.browser.test_dashboard_browser import sign_in
from tests.builders import World, ok, raise_alert, seen, telemetry

pytestmark = pytest.mark.browser


def test_report_for_duty_and_resolve_with_a_cause_from_the_queue(
        context: Any, world: World, db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    seen(db, "E1")
    alert_id = raise_alert(db, "E1", "power_loss")
    case_id = ok(world.admin.get(f"/alerts/{alert_id}"))["case_id"]
    page = sign_in(context, world.tokens["maint_1"], "/cases")
    card = page.locator(f"#case-{case_id}")
    expect(card).to_contain_text("power loss")
    expect(card.locator(f'[data-org="{world.orgs["maint_1"]}"]')).to_have_attribute(
        "data-mark", "waiting")
    expect(card.get_by_role("button", name="Resolve")).to_have_count(0)

    card.get_by_role("button", name="Report for duty").click()
    expect(page.locator("#toast")).to_contain_text(f"Recorded on case {case_id}")
    card = page.locator(f"#case-{case_id}")
    expect(card.locator(f'[data-org="{world.orgs["maint_1"]}"]')).to_have_attribute(
        "data-mark", "duty")
    expect(card.get_by_role("button", name="Report for duty")).to_have_count(0)

    card.get_by_label("Cause").select_option("electrical")
    card.get_by_placeholder("What was done").fill("replaced the contactor")
    card.get_by_role("button", name="Resolve").click()
    card = page.locator(f"#case-{case_id}")
    expect(card).to_have_attribute("data-state", "resolved")
    expect(card.get_by_role("button", name="Resolve")).to_have_count(0)
    case = ok(world.admin.get(f"/cases/{case_id}"))
    assert (case["state"], case["cause"]) == ("resolved", "electrical")
    assert "maint_1" in case["resolved_by"]

    # the case page: the timeline has it all, and the charts of around then are drawn
    telemetry(db, "E1", hours=1)
    card.get_by_role("link", name=f"case {case_id}").click()
    actions = page.locator("#case-trail tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.action)")
    assert actions == ["opened", "alert_added", "on_duty", "resolved"]
    expect(page.locator("#case-trail")).to_contain_text("replaced the contactor")
    expect(page.locator('[data-chart="position"]')).to_have_attribute("data-state", "drawn")


def test_the_queue_on_a_phone(browser: Any, server: str, world: World,
                              db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    case_id = ok(world.admin.get(
        f"/alerts/{raise_alert(db, 'E1', 'trapped_passenger', 'critical')}"))["case_id"]
    ctx = browser.new_context(base_url=server, viewport={"width": 390, "height": 844})
    try:
        page = sign_in(ctx, world.tokens["prop_a"], "/cases")
        card = page.locator(f"#case-{case_id}")
        card.get_by_role("button", name="Report for duty").click()
        expect(card.get_by_role("button", name="Record the rescue")).to_be_visible()
        box = page.locator(f"#case-{case_id}").bounding_box()
        assert box is not None and box["width"] <= 390
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"the queue scrolls sideways on a phone ({width} px)"
    finally:
        ctx.close()
