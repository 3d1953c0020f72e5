"""Webhook URLs through the real API: https to public addresses only, unless
WHISTLE_WEBHOOK_ALLOW_PRIVATE (deliveries are checked again: tests/rules/test_notify.py)."""

from __future__ import annotations

import psycopg

from core.settings import Settings
from tests.builders import World, client, ok, seed_fleet
from tests.helpers import ApiServer

REFUSED = {
    "http://127.0.0.1:9/hook": "https",
    "http://hooks.example.org/hook": "https",
    "https://127.0.0.1/hook": "loopback",
    "https://localhost:8443/hook": "loopback",
    "https://[::1]/hook": "loopback",
    "https://[::ffff:127.0.0.1]/hook": "loopback",
    "https://10.0.0.1/hook": "private",
    "https://192.168.1.20/hook": "private",
    "https://169.254.169.254/latest/meta-data": "link-local",
    "https://[fe80::1]/hook": "link-local",
    "https://224.0.0.1/hook": "multicast",
    "https://0.0.0.0/hook": "unspecified",
}


def test_webhooks_to_private_addresses_or_without_https_are_refused(world: World):
    org = world.orgs["prop_a"]
    for url, why in REFUSED.items():
        r = world.admin.post(f"/orgs/{org}/webhooks", json={"url": url})
        assert r.status_code == 422, (url, r.text)
        [error] = r.json()["errors"]
        assert error["field"] == "url" and why in error["message"], (url, error)
    assert ok(world.admin.get(f"/orgs/{org}/webhooks")) == []
    made = ok(world.admin.post(f"/orgs/{org}/webhooks",
                               json={"url": "https://93.184.215.14/hook"}), 201)
    assert made["url"] == "https://93.184.215.14/hook"


def test_allow_private_lets_a_local_receiver_be_registered(settings: Settings,
                                                           db: psycopg.Connection):
    fleet = seed_fleet(db)
    lax = settings.model_copy(update={"webhook_allow_private": True})
    with ApiServer(lax) as url, client(url, settings.admin_token) as admin:
        for hook in ("http://127.0.0.1:9/hook", "https://[::1]/hook", "http://10.0.0.1/x"):
            ok(admin.post(f"/orgs/{fleet.orgs['prop_a']}/webhooks", json={"url": hook}), 201)
