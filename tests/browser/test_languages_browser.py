"""The dashboard in both languages in a real Chromium: the switch keeps the choice across
pages, and a zh-CN page shows no English beyond identifiers and units."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from tests.builders import World, raise_alert, seen, telemetry

pytestmark = pytest.mark.browser

# What may stay in Latin letters on a Chinese page: names and ids of the test world, the
# product, units and abbreviations; actors ("kind:org:tokenN", "whistle", recorded_by "test").
ALLOWED = {"Whistle", "HTTP", "CSV", "RMS", "Webhook", "Cookie", "Asia", "Shanghai", "m", "s",
           "kg", "C", "min", "mps", "UTC", "GMT", "h",
           "street"}  # the test world's site addresses are "S1 street 1": data, not the page
NAMES = re.compile(r"^(E\d+|S\d+|D\d+|prop_[ab]|maint_\d|sup_d\d|community_d\d|street_d\d|"
                   r"rescue_d\d|token\d+|property|maintenance|supervision|admin|whistle|test)$")


def english_words(page: Any) -> list[str]:
    """Latin words of the rendered text that are neither names nor allowed."""
    text = page.locator("body").inner_text()
    words = re.findall(r"[A-Za-z][A-Za-z_0-9]*", text)
    return sorted({w for w in words if w not in ALLOWED and not NAMES.match(w)
                   and w not in ("English",)})


def test_sign_in_acknowledge_and_browse_in_chinese_then_english(
        context: Any, world: World, db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    seen(db, "E1", "E3")
    telemetry(db, "E1", hours=1)
    alert_id = raise_alert(db, "E1", "trapped_passenger", "critical")

    page = context.new_page()
    page.goto("/signin?lang=zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    assert english_words(page) == [], english_words(page)
    page.get_by_text("改用访问令牌登录").click()
    page.get_by_label("单位访问令牌").fill(world.tokens["sup_d1"])
    page.locator("#token-signin").get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/$"))

    # The fleet in Chinese: the choice survived the sign-in (cookie), status in words.
    expect(page.locator("#tile-E1 .status-text")).to_have_text("故障")
    expect(page.locator("#tile-E1")).to_contain_text("困人 · 紧急")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#live")).to_have_text("● 实时")
    assert english_words(page) == [], english_words(page)

    # The queue: report for duty (报到); the toast and the row speak Chinese.
    page.get_by_role("link", name="告警队列").click()
    row = page.locator(f"#alert-{alert_id}")
    row.get_by_role("button", name="报到").click()
    expect(row.locator(".state")).to_have_text("已报到")
    expect(page.locator("#toast")).to_have_text("报到：E1 困人")
    assert english_words(page) == [], english_words(page)

    # The alert page and the elevator page, times in Beijing time with the zone.
    page.goto(f"/alerts/{alert_id}")
    expect(page.locator("#trail")).to_contain_text("报到")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", page.locator("main").inner_text())
    assert english_words(page) == [], english_words(page)
    page.goto("/elevators/E1")
    expect(page.locator('[data-chart="position"]')).to_have_attribute("data-state", "drawn")
    expect(page.locator("#chart-note")).to_contain_text("个采样")
    assert english_words(page) == [], english_words(page)

    # Supervision, then switch to English: the choice holds on the next pages.
    page.get_by_role("link", name="监管统计").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("监管统计")
    assert english_words(page) == [], english_words(page)
    href = page.locator("#csv-report").get_attribute("href") or ""
    assert "lang=zh-CN" in href
    page.locator("#lang-switch").get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Supervision")
    page.get_by_role("link", name="Fleet").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#tile-E1")).to_contain_text("trapped passenger")
    page.goto("/alerts")
    expect(page.locator(f"#alert-{alert_id} .state")).to_have_text("acknowledged")


def test_accept_language_chooses_until_the_user_picks(browser: Any, server: str,
                                                      world: World) -> None:
    from playwright.sync_api import expect

    ctx = browser.new_context(base_url=server, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.goto("/signin")
        expect(page.get_by_role("heading", name="登录")).to_be_visible()
        page.locator("#lang-switch").get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.goto("/signin")  # no ?lang= now: the cookie wins over Accept-Language
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        ctx.close()
