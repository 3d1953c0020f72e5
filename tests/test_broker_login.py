"""The service logs in to brokers that demand it: a password file, TLS with a private CA,
a client certificate. Real Mosquitto processes, configured here, as a deployment would."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import trustme

from core.broker import BrokerURLError, parse_broker_url, redact
from core.settings import Settings
from ingest import Ingester
from rules.notify.mqtt import AlertPublisher
from tests.builders import register_fleet, sample
from tests.helpers import Publisher, free_name, now_ms, wait_until
from whistle.embedded.broker import find_mosquitto
from whistle.embedded.ports import free_port, wait_listening

MOSQUITTO = find_mosquitto()
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="needs a mosquitto binary")
PASSWORD = "s3cret:with@odd/chars"


@dataclass
class Broker:
    plain_port: int
    tls_port: int
    ca_file: Path
    client_cert: Path
    client_key: Path
    log: Path


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Mosquitto with anonymous access off: a password listener and a TLS listener that
    also wants a client certificate from the test CA."""
    d = tmp_path_factory.mktemp("login-broker")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("whistle-service")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server.private_key_pem.write_to_path(str(d / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    client.private_key_pem.write_to_path(str(d / "client.key"))
    client.cert_chain_pems[0].write_to_path(str(d / "client.pem"))
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "whistle", PASSWORD],
                   check=True, capture_output=True)
    plain, tls = free_port(), free_port()
    conf = d / "mosquitto.conf"
    user = pwd.getpwuid(os.geteuid()).pw_name  # as root: stay root, to read pytest's folder
    conf.write_text(f"""per_listener_settings false
user {user}
allow_anonymous false
password_file {d}/passwd
listener {plain} 127.0.0.1
listener {tls} 127.0.0.1
cafile {d}/ca.pem
certfile {d}/server.pem
keyfile {d}/server.key
require_certificate true
log_dest file {d}/mosquitto.log
log_type all
""")
    assert MOSQUITTO is not None
    with (d / "mosquitto.out").open("wb") as out:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        assert wait_listening(plain, 20) and wait_listening(tls, 20), \
            (d / "mosquitto.out").read_text()
        yield Broker(plain, tls, d / "ca.pem", d / "client.pem", d / "client.key",
                     d / "mosquitto.log")
    finally:
        proc.terminate()
        proc.wait(10)


def url(port: int, *, tls: bool = False, password: str = PASSWORD) -> str:
    from urllib.parse import quote

    scheme = "mqtts" if tls else "mqtt"
    return f"{scheme}://whistle:{quote(password, safe='')}@127.0.0.1:{port}"


def stores_through(settings: Settings, db: psycopg.Connection, publisher: Publisher,
                   capsys: pytest.CaptureFixture[str]) -> None:
    """An ingester on these settings stores what the publisher sends; no password logged."""
    register_fleet(db, ["AUTH1"])
    ing = Ingester(settings)
    ing.start()
    try:
        assert ing.wait_subscribed(15), "the ingester logged in and subscribed"
        t0 = now_ms() - 5_000
        for i in range(3):
            publisher.publish(settings.topic("lift/AUTH1/telemetry"), sample(t0 + i * 1000, i))
        wait_until(lambda: db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 3,
                   15, message="3 samples through the authenticated broker")
    finally:
        ing.stop()
        publisher.close()
    assert PASSWORD not in capsys.readouterr().out + capsys.readouterr().err


def test_the_ingester_logs_in_with_the_user_and_password_of_the_url(
        broker: Broker, settings: Settings, db: psycopg.Connection,
        capsys: pytest.CaptureFixture[str]) -> None:
    login = settings.model_copy(update={"mqtt_url": url(broker.plain_port),
                                        "mqtt_client_id": free_name("auth")})
    stores_through(login, db, Publisher(login.mqtt_url or ""), capsys)


def test_the_ingester_speaks_tls_to_a_private_ca_with_a_client_certificate(
        broker: Broker, settings: Settings, db: psycopg.Connection,
        capsys: pytest.CaptureFixture[str]) -> None:
    tls = settings.model_copy(update={
        "mqtt_url": url(broker.tls_port, tls=True), "mqtt_client_id": free_name("tls"),
        "mqtt_ca_file": broker.ca_file, "mqtt_client_cert": broker.client_cert,
        "mqtt_client_key": broker.client_key})
    stores_through(tls, db, Publisher(tls.mqtt_url or "", broker=tls.broker), capsys)


def test_alerts_are_published_over_tls(broker: Broker, settings: Settings) -> None:
    tls = settings.model_copy(update={
        "mqtt_url": url(broker.tls_port, tls=True), "mqtt_ca_file": broker.ca_file,
        "mqtt_client_cert": broker.client_cert, "mqtt_client_key": broker.client_key})
    alerts = AlertPublisher(tls)
    alerts.start()
    try:
        assert alerts.connected.wait(15), "the alert publisher logged in over TLS"
    finally:
        alerts.stop()


def test_a_wrong_password_is_refused_and_never_logged(
        broker: Broker, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = settings.model_copy(update={"mqtt_url": url(broker.plain_port, password="nope-x1"),
                                        "mqtt_client_id": free_name("wrong")})
    alerts = AlertPublisher(wrong)
    alerts.start()
    try:
        wait_until(lambda: "not authorised" in broker.log.read_text(errors="replace")
                   or "not authorized" in broker.log.read_text(errors="replace"), 15,
                   message="the broker refuses the wrong password")
        assert not alerts.connected.is_set()
    finally:
        alerts.stop()
    out = capsys.readouterr()
    assert "nope-x1" not in out.out + out.err


def test_broker_urls_are_checked_and_logged_without_their_password(tmp_path: Path) -> None:
    b = parse_broker_url("mqtts://dev%40x:p%3Ass@broker.example:8884")
    assert (b.host, b.port, b.tls, b.username, b.password) == (
        "broker.example", 8884, True, "dev@x", "p:ss")
    assert parse_broker_url("mqtt://h").port == 1883 and parse_broker_url("mqtts://h").port == 8883
    assert "p:ss" not in b.display() and "p%3Ass" not in redact(
        "mqtts://dev%40x:p%3Ass@broker.example:8884") and "p:ss" not in repr(b)
    for bad, why in [("http://h:1883", "mqtt://host:port"),
                     ("mqtt://h:99999", "not a broker URL"),
                     ("mqtt://:1883", "mqtt://host:port")]:
        with pytest.raises(BrokerURLError, match=why):
            parse_broker_url(bad)
    with pytest.raises(BrokerURLError, match="does not use TLS"):
        parse_broker_url("mqtt://h", ca_file=tmp_path)
    with pytest.raises(BrokerURLError, match="does not exist"):
        parse_broker_url("mqtts://h", ca_file=tmp_path / "missing.pem")
    with pytest.raises(BrokerURLError, match="needs its key"):
        parse_broker_url("mqtts://h", client_cert=tmp_path / "c.pem")
    with pytest.raises(ValueError, match="WHISTLE_MQTT_URL"):
        Settings(mqtt_url="http://h:1")


def test_the_simulator_logs_in_with_the_user_and_password_of_its_url(
        broker: Broker, settings: Settings, db: psycopg.Connection,
        capsys: pytest.CaptureFixture[str]) -> None:
    from simulators import Publisher as SimPublisher

    login = settings.model_copy(update={"mqtt_url": url(broker.plain_port),
                                        "mqtt_client_id": free_name("simauth")})
    register_fleet(db, ["SIM1"])
    ing = Ingester(login)
    ing.start()
    sim = SimPublisher(login.mqtt_url or "", ["SIM1"], topic_prefix=settings.mqtt_topic_prefix)
    try:
        assert ing.wait_subscribed(15)
        sim.start()  # raises unless the broker accepts the login
        t0 = now_ms() - 5_000
        sim.send([("lift/SIM1/telemetry", json.dumps(sample(t0, 0)).encode(), False)])
        sim.flush(15)
        wait_until(lambda: db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 1,
                   15, message="the simulator's sample through the authenticated broker")
    finally:
        sim.close()
        ing.stop()
    with pytest.raises(ValueError, match=r"mqtt://\[user:password@\]host:port") as bad:
        SimPublisher(f"https://whistle:{PASSWORD}@127.0.0.1:1", ["SIM1"])
    assert PASSWORD not in str(bad.value)


def test_a_short_admin_token_is_refused_at_start_with_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"WHISTLE_ADMIN_TOKEN is 5 characters; at least 32"):
        Settings(admin_token="admin")
    assert Settings(admin_token="k" * 32).admin_token == "k" * 32
    assert Settings(admin_token="").admin_token is None  # unset: generated and kept


def test_the_cli_refuses_a_short_admin_token_in_one_line() -> None:
    import os
    import sys

    done = subprocess.run([sys.executable, "-m", "whistle", "admin-token"], capture_output=True,
                          text=True, env={**os.environ, "WHISTLE_ADMIN_TOKEN": "short"},
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("whistle: WHISTLE_ADMIN_TOKEN is 5 characters")
    assert "Traceback" not in done.stderr and "short" not in done.stderr
