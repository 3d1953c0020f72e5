"""Capture the guided tour's screenshots from a running `whistle demo` (docs/tour.md), in
the demo's language: English ones here, Chinese ones in ``zh-CN/``.

    WHISTLE_DATA_DIR=/tmp/whistle-demo-shots WHISTLE_API_PORT=18437 .venv/bin/whistle demo --lang en
    # wait about 8 minutes: the tower's trapped passenger climbs the escalation chain
    .venv/bin/python docs/screenshots/capture.py http://127.0.0.1:18437 /tmp/whistle-demo-shots
    # or retake some: ... /tmp/whistle-demo-shots 02-fleet 06-supervision

Uses the system's Chromium (WHISTLE_CHROMIUM, or `chromium` on PATH), never a download.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

HERE = Path(__file__).parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LANG = {"lang": "en"}  # the demo's language, read from its state file


def sign_in(page: Page, token: str) -> None:
    """Sign in through the form."""
    page.goto(f"/signin?lang={LANG['lang']}")
    page.locator("#token").fill(token)
    page.locator("button[type=submit]").first.click()
    page.wait_for_url("**/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


ONLY: set[str] = set()  # names given after the data folder: retake only those


def shoot(page: Page, name: str, *, full: bool = True) -> None:
    """One PNG."""
    if ONLY and name not in ONLY:
        return
    page.wait_for_load_state("networkidle")
    folder = HERE if LANG["lang"] == "en" else HERE / LANG["lang"]
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    print("wrote", path)


def main(base: str, data_dir: Path) -> None:
    """Sign-in, fleet, alert queue, an alert, an elevator with charts, supervision."""
    state = json.loads((data_dir / "demo.json").read_text())
    LANG["lang"] = state.get("lang", "en")
    by_kind = {org["kind"]: org["token"] for org in state["orgs"].values()
               if org.get("district") in (None, state["tower_district"])}
    tokens = {"property": by_kind["property"], "supervision": by_kind["supervision"]}
    chromium = shutil.which(os.environ.get("WHISTLE_CHROMIUM", "chromium"))
    if chromium is None:
        sys.exit("no Chromium: apt-get install chromium, or set WHISTLE_CHROMIUM")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        ctx = browser.new_context(base_url=base, viewport={"width": 1360, "height": 860},
                                  device_scale_factor=1)
        page = ctx.new_page()
        page.goto(f"/signin?lang={LANG['lang']}")
        shoot(page, "01-sign-in", full=False)

        sign_in(page, tokens["property"])
        shoot(page, "02-fleet")

        page.goto("/alerts")
        expect(page.locator("#queue")).to_be_visible()
        shoot(page, "03-alert-queue")

        escalated = page.locator("#queue tbody tr").filter(
            has_text="trapped passenger" if LANG["lang"] == "en" else "困人")
        target = escalated if escalated.count() else page.locator("#queue tbody tr")
        if target.count():
            target.first.get_by_role("link").first.click()
            expect(page.locator("#alert-state")).to_be_visible()
            shoot(page, "04-alert")

        page.goto("/")
        tile = page.locator(".tile.status-fault, .tile.status-warning").first
        (tile if tile.count() else page.locator(".tile").first).click()
        expect(page.locator('[data-chart="position"]')).to_have_attribute(
            "data-state", "drawn", timeout=20_000)
        page.locator('button[data-hours="1"]').click()
        expect(page.locator('[data-chart="position"]')).to_have_attribute("data-state", "drawn")
        shoot(page, "05-elevator")

        ctx.clear_cookies()
        sign_in(page, tokens["supervision"])
        page.goto("/supervision")
        shoot(page, "06-supervision")
        ctx.close()
        browser.close()


if __name__ == "__main__":
    ONLY.update(sys.argv[3:])
    main(sys.argv[1], Path(sys.argv[2]))
