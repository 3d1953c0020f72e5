"""GET /alerts/stream: server-sent events of alert changes, scoped per token, backed by
LISTEN/NOTIFY (changes written by another connection arrive), with keep-alive comments."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import httpx
import pytest

from api.routes import stream
from tests.builders import World, client, ok, raise_alert
from tests.helpers import wait_until


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token (a token never goes in a stream's URL)."""
    return {"Authorization": f"Bearer {token}"}


class SseReader:
    """Reads an event stream in a thread: events (parsed) and comments, as they come."""

    def __init__(self, url: str, *, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, only: set[str] | None = None
                 ) -> None:
        self.only = only  # keep only events of these names (None: every event)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.comments: list[str] = []
        self.status: int | None = None
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=10))
        self._args = (url, params or {}, headers or {})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        url, params, headers = self._args
        with self._client.stream("GET", url, params=params, headers=headers) as r:
            self.status = r.status_code
            if r.status_code != 200:
                return
            self.content_type = r.headers["content-type"]
            fields: dict[str, str] = {}
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line == "":
                    if "data" in fields and (self.only is None
                                             or fields.get("event") in self.only):
                        self.events.put({"event": fields.get("event"), "id": fields.get("id"),
                                         **json.loads(fields["data"])})
                    fields = {}
                else:
                    key, _, value = line.partition(":")
                    fields[key] = value.lstrip()

    def next(self, timeout: float = 10) -> dict[str, Any]:
        """The next event."""
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        """Stop reading (at the next line: a keep-alive at the latest)."""
        self._stop.set()
        self._thread.join(5)
        self._client.close()


@pytest.fixture(autouse=True)
def quick_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "KEEPALIVE_S", 0.3)


def test_the_stream_delivers_changes_to_those_who_see_them(world: World, db):
    url = f"{world.url}/api/v1/alerts/stream"
    alert = {"alert"}  # the major alerts open fault cases: their events are tested elsewhere
    readers = {
        "prop_a": SseReader(url, headers=bearer(world.tokens["prop_a"]), only=alert),
        "prop_b": SseReader(url, headers=bearer(world.tokens['prop_b']),
                            only=alert),
        "sup_d1": SseReader(url, headers=bearer(world.tokens["sup_d1"]), only=alert),
        "e3_only": SseReader(url, headers=bearer(world.tokens["sup_d1"]),
                             params={"elevator_id": "E3"}, only=alert),
    }
    try:
        for name, reader in readers.items():
            wait_until(lambda r=reader: "connected" in r.comments, 10,
                       message=f"{name}'s stream to open")
        assert readers["prop_a"].content_type.startswith("text/event-stream")
        e1 = raise_alert(db, "E1")
        e2 = raise_alert(db, "E2")
        e3 = raise_alert(db, "E3")
        first = readers["prop_a"].next()
        assert (first["event"], first["change"]) == ("alert", "raised")
        assert (first["alert"]["id"], first["alert"]["elevator_id"]) == (e1, "E1")
        assert first["alert"]["state"] == "open" and first["id"]
        assert not any(k.startswith("scope_") for k in first["alert"])
        assert readers["prop_b"].next()["alert"]["id"] == e2  # never saw E1
        assert [readers["sup_d1"].next()["alert"]["id"] for _ in range(2)] == [e1, e3]
        assert readers["e3_only"].next()["alert"]["id"] == e3
        assert readers["prop_a"].next()["alert"]["id"] == e3  # E3 is prop_a's too
        ok(world.as_("maint_1").post(f"/alerts/{e1}/ack", json={"note": "coming"}))
        acked = readers["prop_a"].next()
        assert acked["change"] == "acknowledged"
        assert (acked["alert"]["state"], acked["alert"]["note"]) == ("acknowledged", "coming")
        assert readers["prop_b"].events.empty()
        wait_until(lambda: "keep-alive" in readers["prop_b"].comments, 5,
                   message="a keep-alive comment")
    finally:
        for reader in readers.values():
            reader.close()


def test_the_stream_needs_a_valid_token(world: World):
    url = f"{world.url}/api/v1/alerts/stream"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, params={"token": "forged"}, timeout=5).status_code == 401
    # a real token in the URL is refused too: it would end up in logs
    r = httpx.get(url, params={"token": world.tokens["prop_a"]}, timeout=5)
    assert r.status_code == 401 and "ticket" in r.json()["detail"]


def test_a_stream_ticket_is_single_use_and_stands_for_a_live_credential(world: World, db):
    url = f"{world.url}/api/v1/alerts/stream"
    made = ok(world.as_("prop_a").post("/alerts/stream/ticket"), 201)
    assert len(made["ticket"]) >= 32 and made["expires_at"]
    reader = SseReader(url, params={"ticket": made["ticket"]}, only={"alert"})
    try:
        wait_until(lambda: reader.status is not None, 5, message="the stream answered")
        assert reader.status == 200
        alert_id = raise_alert(db, "E1", "door_fault")
        event = reader.events.get(timeout=5)
        assert event["alert"]["id"] == alert_id
    finally:
        reader.close()
    # used: a second stream with it answers 401
    again = httpx.get(url, params={"ticket": made["ticket"]}, timeout=5)
    assert again.status_code == 401 and "ticket" in again.json()["detail"]
    # a ticket of a token revoked since answers 401
    org = world.orgs["maint_1"]
    token = ok(world.admin.post(f"/orgs/{org}/tokens", json={"label": "wall screen"}), 201)
    with client(world.url, token["token"]) as screen:
        ticket = ok(screen.post("/alerts/stream/ticket"), 201)
    assert world.admin.delete(f"/orgs/{org}/tokens/{token['id']}").status_code == 204
    assert httpx.get(url, params={"ticket": ticket["ticket"]}, timeout=5).status_code == 401
    # the admin token's ticket works on the cases stream
    admin_ticket = ok(world.admin.post("/alerts/stream/ticket"), 201)["ticket"]
    with httpx.stream("GET", f"{world.url}/api/v1/cases/stream",
                      params={"ticket": admin_ticket}, timeout=5) as r:
        assert r.status_code == 200
