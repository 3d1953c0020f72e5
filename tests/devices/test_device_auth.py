"""Per-device broker credentials (CONTRACT section 8) against a real Mosquitto with its
dynamic-security plugin, started by the test exactly as the embedded broker runs: a device
publishing on its own topic is stored; on another's topic the broker refuses it and nothing
is stored; anonymous clients and revoked or replaced passwords are refused; a broker that
lost its configuration gets it back."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.settings import Settings
from ingest.devices import reconcile
from messaging import dynsec
from tests.builders import World, sample, standard_world
from tests.helpers import now_ms, wait_until
from whistle.assembly import Whistle
from whistle.embedded.broker import EmbeddedBroker, find_dynsec_plugin, find_mosquitto
from whistle.runtime import broker_config

pytestmark = pytest.mark.skipif(
    find_mosquitto() is None or find_dynsec_plugin() is None,
    reason="needs mosquitto and its dynamic-security plugin (Debian's mosquitto package)")


class Device:
    """An MQTT 5 client logging in as a device; remembers CONNACK and PUBACK reasons."""

    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"dev-{uuid.uuid4().hex[:8]}")
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: str | None = None
        self.acks: dict[int, str] = {}
        self.gone = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, reason, _p: setattr(
            self, "connack", str(reason))
        self.client.on_publish = lambda _c, _u, mid, reason, _p: self.acks.__setitem__(
            mid, str(reason))
        self.client.on_disconnect = lambda *_a: self.gone.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(lambda: self.connack is not None, 10, message="a CONNACK")

    def publish(self, topic: str, payload: Any) -> str:
        """PUBACK's reason for one QoS 1 message."""
        info = self.client.publish(topic, json.dumps(payload), qos=1)
        wait_until(lambda: info.mid in self.acks, 10, message="a PUBACK")
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def broker(tmp_path: Path, settings: Settings) -> Iterator[EmbeddedBroker]:
    """The embedded Mosquitto with device logins on, configured from the test database."""
    on = settings.model_copy(update={"mqtt_device_auth": "on"})
    b = EmbeddedBroker(tmp_path / "broker", device_auth=True, dynsec_config=broker_config(on))
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture()
def service(broker: EmbeddedBroker, settings: Settings, db: psycopg.Connection
            ) -> Iterator[tuple[Whistle, World, Settings]]:
    """Ingester and API on that broker, with the standard world."""
    on = settings.model_copy(update={"mqtt_device_auth": "on", "mqtt_url": broker.url,
                                     "api_port": 0})
    with Whistle(on, rules=False) as w:
        assert on.admin_token is not None
        world = standard_world(w.url, on.admin_token, db)
        try:
            yield w, world, on
        finally:
            world.close()


def stored(db: psycopg.Connection, elevator: str) -> int:
    return int(db.execute("SELECT count(*) FROM telemetry t JOIN elevators e ON "
                          "e.pk = t.elevator_pk WHERE e.id = %s", (elevator,)).fetchone()[0])


def test_a_device_speaks_only_for_itself_and_revoked_logins_stop(
        service: tuple[Whistle, World, Settings], broker: EmbeddedBroker,
        db: psycopg.Connection) -> None:
    _w, world, settings = service
    prefix = settings.mqtt_topic_prefix
    r = world.as_("maint_1").post("/elevators/E1/credentials")
    assert r.status_code == 201, r.text
    login = r.json()
    assert login["username"] == "E1" and len(login["password"]) >= 32
    assert login["broker"] == "in step"
    # only a hash is kept, in the broker's own format
    row = db.execute("SELECT password_hash, iterations FROM device_credentials").fetchone()
    assert login["password"].encode() not in bytes(row[0]) and row[1] > 0

    anonymous = Device(broker.port, None, None)
    assert anonymous.connack == "Not authorized"
    device = Device(broker.port, "E1", login["password"])
    assert device.connack == "Success"
    t = now_ms()
    assert device.publish(f"{prefix}lift/E2/telemetry", sample(t)) == "Not authorized"
    assert device.publish(f"{prefix}lift/E1/telemetry", sample(t + 1000)) == "Success"
    wait_until(lambda: stored(db, "E1") == 1, 10, message="E1's own sample stored")
    assert stored(db, "E2") == 0  # refused at the broker: never reached the ingester

    # a second call replaces the password: the old one is refused, the new one works
    again = world.as_("maint_1").post("/elevators/E1/credentials").json()
    assert device.gone.wait(10), "the old login's connection is cut"
    assert Device(broker.port, "E1", login["password"]).connack == "Not authorized"
    renewed = Device(broker.port, "E1", again["password"])
    assert renewed.connack == "Success"

    r = world.as_("maint_1").delete("/elevators/E1/credentials")
    assert r.status_code == 200 and r.json()["broker"] == "in step", r.text
    assert renewed.gone.wait(10), "a revoked device is cut off"
    assert Device(broker.port, "E1", again["password"]).connack == "Not authorized"
    assert world.as_("maint_1").delete("/elevators/E1/credentials").status_code == 404

    record = world.as_("maint_1").get("/elevators/E1/credentials").json()
    assert record["active"] is False
    assert [e["action"] for e in record["events"]] == ["revoked", "replaced", "issued"]
    assert all(e["by"].startswith("maintenance:") for e in record["events"]), record
    for d in (anonymous, device):
        d.close()


def test_who_may_manage_a_devices_credentials(service: tuple[Whistle, World, Settings]
                                              ) -> None:
    _w, world, _s = service
    assert world.as_("maint_2").post("/elevators/E1/credentials").status_code == 404
    assert world.as_("prop_b").get("/elevators/E1/credentials").status_code == 404
    for name in ("prop_a", "sup_d1", "street_d1", "community_d1"):
        assert world.as_(name).post("/elevators/E1/credentials").status_code == 403, name
    assert world.as_("prop_a").get("/elevators/E1/credentials").status_code == 403
    assert world.as_("sup_d1").get("/elevators/E1/credentials").status_code == 200
    assert world.admin.post("/elevators/E2/credentials").status_code == 201
    assert world.as_("maint_2").delete("/elevators/E2/credentials").status_code == 200
    assert world.admin.post("/elevators/NOPE/credentials").status_code == 404


def test_reconciliation_and_a_broker_that_lost_its_configuration(
        service: tuple[Whistle, World, Settings], broker: EmbeddedBroker,
        db: psycopg.Connection, tmp_path: Path) -> None:
    w, world, settings = service
    password = world.as_("maint_1").post("/elevators/E1/credentials").json()["password"]
    with dynsec.connect(settings.broker) as ds:
        # a login Whistle never issued (or revoked while the broker was down), and E1's
        # role lost
        ds.put_device("E2", "stale-password", settings.mqtt_topic_prefix)
        ds.run([{"command": "removeClientRole", "username": "E1",
                 "rolename": dynsec.device_role("E1")},
                {"command": "deleteRole", "rolename": dynsec.device_role("E1")}])
        done = reconcile(db, ds, settings.mqtt_topic_prefix)
        assert done.removed == ["E2"] and done.roles_restored == ["E1"] and not done.missing
        assert set(ds.device_clients()) == {"E1"}
    assert Device(broker.port, "E2", "stale-password").connack == "Not authorized"
    e1 = Device(broker.port, "E1", password)
    assert e1.publish(f"{settings.mqtt_topic_prefix}lift/E1/telemetry",
                      sample(now_ms())) == "Success"
    e1.close()

    # the broker loses its folder; started again, it is configured from the database
    w.stop()
    broker.stop()
    (broker.dir / "dynamic-security.json").unlink()
    broker.start()
    restored = Device(broker.port, "E1", password)
    assert restored.connack == "Success"
    assert restored.publish(f"{settings.mqtt_topic_prefix}lift/E3/telemetry",
                            sample(now_ms())) == "Not authorized"
    restored.close()


def test_the_broker_hook_for_emqx(settings: Settings, db: psycopg.Connection) -> None:
    from tests.helpers import ApiServer

    secret = "hook-secret-" + "y" * 32
    hooked = settings.model_copy(update={"broker_hook_secret": secret})
    with ApiServer(hooked) as url:
        assert hooked.admin_token is not None
        world = standard_world(url, hooked.admin_token, db)
        try:
            password = world.admin.post("/elevators/E1/credentials").json()["password"]
            hook = world.as_(None)  # no token: the hook has its own secret
            auth = {"Authorization": f"Bearer {secret}"}
            base = "/broker"
            ask = lambda path, body, h=auth: hook.post(f"{base}/{path}", json=body, headers=h)  # noqa: E731
            for user, pw, result in (("E1", password, "allow"), ("E1", "wrong", "deny"),
                                     ("whistle", "x", "ignore")):
                answer = ask("auth", {"username": user, "password": pw}).json()
                assert answer.get("result") == result, (user, answer)
            assert ask("auth", {"username": "E1", "password": password}, {}).status_code == 401
            prefix = hooked.mqtt_topic_prefix
            assert ask("acl", {"username": "E1", "topic": f"{prefix}lift/E1/state",
                               "action": "publish"}).json()["result"] == "allow"
            for topic, action in ((f"{prefix}lift/E2/telemetry", "publish"),
                                  (f"{prefix}lift/#", "subscribe")):
                assert ask("acl", {"username": "E1", "topic": topic, "action": action}
                           ).json()["result"] == "deny", topic
            assert ask("acl", {"username": "E1", "topic": "x"}).status_code == 422
        finally:
            world.close()


def test_the_simulated_fleet_with_device_logins_end_to_end(
        broker: EmbeddedBroker, settings: Settings, db: psycopg.Connection) -> None:
    """`whistle simulate --credentials`: each simulated elevator connects as itself, and a
    trapped passenger still goes all the way to an alert."""
    import httpx

    from simulators.fleet import Fleet, FleetConfig
    from simulators.publisher import Publisher as FleetPublisher
    from simulators.publisher import PublishError
    from simulators.registration import register
    from simulators.runner import run_fast

    on = settings.model_copy(update={"mqtt_device_auth": "on", "mqtt_url": broker.url,
                                     "api_port": 0})
    fleet = Fleet(FleetConfig(elevators=2, seed=5, buildings="residential",
                              duration_s=12 * 60, start_ts_ms=now_ms() - 12 * 60_000,
                              faults="trapped_passenger@2m:E0001"))
    with Whistle(on) as w, httpx.Client(
            base_url=f"{w.url}/api/v1", timeout=30,
            headers={"Authorization": f"Bearer {on.admin_token}"}) as api:
        register(w.url, on.admin_token or "", fleet.registry())
        logins = {e: api.post(f"/elevators/{e}/credentials").json()["password"]
                  for e in fleet.ids}
        open_broker = FleetPublisher(broker.url.replace(f"whistle:{broker.service_password()}@",
                                                        ""), fleet.ids[:1],
                                     topic_prefix=on.mqtt_topic_prefix)
        with pytest.raises(PublishError, match="refused"):
            open_broker.start()  # anonymous: refused
        publisher = FleetPublisher(broker.url, fleet.ids, topic_prefix=on.mqtt_topic_prefix,
                                   credentials=logins)
        publisher.start()
        stats = run_fast(fleet, publisher=publisher, progress=False)
        publisher.close(offline=False)
        assert stats.samples > 2 * 11 * 60
        alert = wait_until(lambda: api.get("/alerts", params={
            "elevator_id": "E0001", "kind": "trapped_passenger"}).json(), 60,
            message="trapped_passenger raised")
        assert alert[0]["severity"] == "critical"
        # the other elevator's samples are written as they come, not before E0001's alert
        wait_until(lambda: stored(db, "E0002") > 600, 60,
                   message="E0002's samples stored")
