"""Browser fixtures: the system's Chromium driven by Playwright, and the real app.

The browser is never downloaded (the machines that run Whistle have no internet): the
tests use the Chromium of the system, ``WHISTLE_CHROMIUM`` or the first of ``chromium``,
``chromium-browser``, ``google-chrome`` on PATH. Without one they are skipped, saying how
to install it; with ``WHISTLE_REQUIRE_BROWSER=1`` (CI) a missing browser fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_ENV = "WHISTLE_CHROMIUM"
REQUIRE_ENV = "WHISTLE_REQUIRE_BROWSER"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOW_TO = ("install Debian's Chromium (`apt-get install chromium`) or point "
          f"{CHROMIUM_ENV} at a Chromium binary; Playwright's own browser download is "
          "not used")


def find_chromium() -> str | None:
    """The Chromium binary to drive, or None."""
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        return shutil.which(chosen)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the system's Chromium; skips the browser tests without one."""
    path = find_chromium()
    if path is None:
        chosen = os.environ.get(CHROMIUM_ENV)
        _unavailable(f"{CHROMIUM_ENV}={chosen} is not an executable" if chosen else
                     f"no Chromium found: {HOW_TO}")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    """One headless Chromium for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def server(api_server: str) -> str:
    """The real app (API and dashboard) on an empty, migrated database."""
    return api_server


@pytest.fixture()
def context(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser profile (cookies) per test, closed before the server stops."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    ctx = browser.new_context(base_url=server, viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(15_000)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        yield ctx
    finally:
        ctx.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"
