"""A resident on a phone (Chromium at 375x667): scans the sign, reports in Chinese without
JavaScript, follows the report, switches to English, and says the problem is solved."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from core.settings import Settings
from tests.api.test_public_reports import case_of, resolve
from tests.builders import World
from tests.helpers import ApiServer

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}
# Set to a folder (docs/screenshots) to write the screenshots of the residents' pages.
SHOTS_ENV = "WHISTLE_SCREENSHOTS"


@pytest.fixture()
def deployed(settings: Settings, world: World) -> Iterator[str]:
    """The app as deployed: Chinese unless the visitor picks English."""
    with ApiServer(settings.model_copy(update={"default_lang": "zh-CN"})) as url:
        yield url


def shot(page: Any, name: str) -> None:
    folder = os.environ.get(SHOTS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_resident_reports_follows_and_confirms_on_a_phone(
        browser: Any, deployed: str, world: World, db: psycopg.Connection) -> None:
    from playwright.sync_api import expect

    world.elevator("E9", "S1", maintenance="maint_1", rescue_code="24680", name="2号楼客梯")
    sign = httpx.get(f"{deployed}/api/v1/elevators/E9/sign",
                     headers={"Authorization": f"Bearer {world.tokens['prop_a']}"}).text
    printed = re.search(r'<p class="url">([^<]+)</p>', sign)
    assert printed, sign[:400]
    url = printed.group(1)

    # A phone in China (it asks for Chinese), with JavaScript off: the page needs none.
    ctx = browser.new_context(viewport=PHONE, java_script_enabled=False, is_mobile=True,
                              has_touch=True, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.goto(url)
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("#elevator-name")).to_have_text("2号楼客梯")
        expect(page.locator("#elevator-status")).to_have_text("电梯正常运行。")
        expect(page.locator("#rescue-code")).to_contain_text("24680")
        expect(page.locator("#emergency")).to_contain_text("96333")
        shot(page, "public-01-report")

        page.get_by_label("门有问题").check()
        page.get_by_label("问题描述（选填）").fill("3楼层门关不上")
        page.get_by_label("联系电话或称呼（选填）").fill("13700000000")
        page.get_by_role("button", name="提交报告").click()
        expect(page).to_have_url(re.compile(r"/r/follow/[A-Za-z0-9]{16,}$"))
        expect(page.locator("#case-state")).to_have_text("已受理：已通知这台电梯的责任单位。")
        expect(page.locator("#progress")).to_contain_text("门有问题")
        assert "13700000000" not in page.content()
        reference = page.url.rsplit("/", 1)[1]
        shot(page, "public-02-follow")

        page.locator("#lang-switch").get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#case-state")).to_contain_text("Received")
        expect(page.get_by_role("button", name="Solved")).to_have_count(0)

        resolve(db, reference, "door_system")
        page.reload()
        expect(page.locator("#resolved")).to_contain_text("the door system")
        shot(page, "public-03-resolved")
        page.get_by_label("Comment (optional)").fill("Works again, thank you")
        page.get_by_role("button", name="Solved", exact=True).click()
        expect(page.locator("#case-state")).to_have_text("Finished (closed).")
        expect(page.get_by_role("button", name="Solved", exact=True)).to_have_count(0)
        assert case_of(db, reference)["state"] == "closed"
    finally:
        ctx.close()
