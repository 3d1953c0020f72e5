"""The organizations page in a real headless Chromium: a manager adds a person, creates a
token (shown once) and revokes one from the page (the buttons call the API, after a
confirm())."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_orgs_dashboard import manager_token
from tests.browser.test_dashboard_browser import sign_in
from tests.builders import World, ok

pytestmark = pytest.mark.browser


def test_a_manager_adds_a_person_and_revokes_a_token_from_the_page(context: Any,
                                                                  world: World) -> None:
    from playwright.sync_api import expect

    org = world.orgs["prop_a"]
    _, boss = manager_token(world, "prop_a")
    old = ok(world.admin.post(f"/orgs/{org}/tokens", json={"label": "old desk"}), 201)
    page = sign_in(context, boss, "/")
    page.get_by_role("link", name="Organizations").click()
    page.get_by_role("link", name="prop_a").click()
    expect(page.locator("#org-head")).to_contain_text("prop_a")

    form = page.locator("#person-form")
    form.get_by_label("Login").fill("clerk")
    form.get_by_label("Name").fill("Li clerk")
    form.get_by_label("Password").fill("correct horse battery")
    form.get_by_label("Phone").fill("13800000001")
    form.get_by_role("button", name="Add the person").click()
    expect(page.locator("#people")).to_contain_text("Li clerk")
    expect(page.locator("#toast")).to_contain_text("Person added")
    people = ok(world.admin.get(f"/orgs/{org}/people"))
    assert {p["login"] for p in people} == {"boss", "clerk"}

    form = page.locator("#token-form")
    form.get_by_label("Label").fill("night shift")
    form.get_by_role("button", name="Create the token").click()
    expect(page.locator("#new-token")).to_be_visible()
    shown = page.locator("#new-token code").inner_text()
    assert len(shown) > 20
    expect(page.locator("#tokens")).to_contain_text("night shift")

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    row = page.locator(f'tr[data-token="{old["id"]}"]')
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(f'tr[data-token="{old["id"]}"]')).to_have_attribute(
        "data-revoked", "true")
    expect(page.locator(f'tr[data-token="{old["id"]}"] .revoked')).to_contain_text("revoked")
    assert dialogs and "Revoke this token" in dialogs[0]
    revoked = next(t for t in ok(world.admin.get(f"/orgs/{org}/tokens")) if t["id"] == old["id"])
    assert revoked["revoked_at"] is not None
