"""Nothing is lost and nothing is stored twice, whatever crashes.

These tests run `whistle ingest` as real processes. The broker is a private Mosquitto
started with Whistle's own broker configuration (queue limits sized for an outage, with
persistence), because a stock broker drops QoS 1 messages once 1000 are queued for an
absent subscriber; the database outage test uses a private PostgreSQL it can stop.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from core.broker import parse_broker_url
from core.devicehash import DeviceHash
from messaging.dynsec import plugin_config
from tests.builders import register_fleet, sample
from tests.helpers import (
    Publisher,
    free_name,
    now_ms,
    service_dir,
    wait_until,
)
from whistle.embedded.broker import (
    SERVICE_USER,
    EmbeddedBroker,
    find_dynsec_plugin,
    find_mosquitto,
)
from whistle.embedded.postgres import EmbeddedPostgres

pytestmark = pytest.mark.slow

ELEVATORS = [f"R{i:02d}" for i in range(20)]
OUTAGE_S = 10.0  # how long the database stays down: the scenario itself, not a wait


class IngestProcess:
    """`python -m whistle ingest` with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.out = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "whistle", "ingest"], env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_subscribed(self, count: int = 1, timeout: float = 30) -> None:
        wait_until(lambda: self.text().count("MQTT subscribed") >= count or
                   self.proc.poll() is not None, timeout, message="ingester subscription")
        assert self.proc.poll() is None, self.text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.out.close()

    def stop(self) -> int:
        """SIGTERM, wait, and return how many messages it committed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.out.close()
        m = re.findall(r'committed_messages"?[=:]\s*(\d+)', self.text())
        return int(m[-1]) if m else 0


@pytest.fixture()
def ingesters() -> Iterator[Callable[[dict[str, str], Path], IngestProcess]]:
    """Start `whistle ingest` processes; any a failed test left running is killed."""
    started: list[IngestProcess] = []

    def start(env: dict[str, str], log: Path) -> IngestProcess:
        started.append(IngestProcess(env, log))
        return started[-1]

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.kill()


SECURE = "login+tls"  # the service logs in (devices too: the dynamic-security plugin), TLS


@pytest.fixture(params=["open"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A private broker with Whistle's configuration (Mosquitto if installed); with the
    parameter SECURE, logins are required and the listener speaks TLS with a test CA."""
    if request.param == SECURE:
        if find_mosquitto() is None or find_dynsec_plugin() is None:
            pytest.skip("needs mosquitto and its dynamic-security plugin")
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        b = EmbeddedBroker(tmp_path / "broker", device_auth=True, tls=(
            tmp_path / "server.pem", tmp_path / "server.key"),
            dynsec_config=lambda pw: plugin_config(DeviceHash.of(SERVICE_USER, pw), []))
    else:
        b = EmbeddedBroker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def ca_of(broker: EmbeddedBroker) -> Path | None:
    """The test CA of a TLS broker."""
    return broker.dir.parent.parent / "ca.pem" if broker.tls else None


def env_for(db_url: str, mqtt_url: str, tmp_path: Path, client_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(WHISTLE_DATABASE_URL=db_url, WHISTLE_MQTT_URL=mqtt_url,
               WHISTLE_MQTT_CLIENT_ID=client_id, WHISTLE_DATA_DIR=str(tmp_path),
               WHISTLE_ADMIN_TOKEN="t" * 32, WHISTLE_LOG_LEVEL="info", WHISTLE_LOG_FORMAT="json",
               WHISTLE_MQTT_SESSION_EXPIRY_S="600")
    if mqtt_url.startswith("mqtts://"):
        env["WHISTLE_MQTT_CA_FILE"] = str(tmp_path / "ca.pem")
    return env


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM telemetry").fetchone()[0])


def duplicates(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) - count(DISTINCT (elevator_pk, ts, seq)) "
                                "FROM telemetry").fetchone()[0])


class Stream:
    """Publishes n 1-sample QoS 1 messages round-robin over the elevators in a thread."""

    def __init__(self, mqtt_url: str, n: int, *, start_seq: int = 0, rate: float | None = None,
                 t0: int | None = None, ca_file: Path | None = None) -> None:
        self.n = n
        self.sent = 0
        self.pub = Publisher(mqtt_url, window=100,
                             broker=parse_broker_url(mqtt_url, ca_file=ca_file))
        self.t0 = t0 or now_ms() - 3_600_000
        self.start_seq = start_seq
        self.rate = rate
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        began = time.monotonic()
        for i in range(self.n):
            seq = self.start_seq + i // len(ELEVATORS)
            eid = ELEVATORS[i % len(ELEVATORS)]
            self.pub.publish(f"lift/{eid}/telemetry", sample(self.t0 + seq * 100, seq))
            self.sent += 1
            if self.rate and self.sent % 50 == 0:  # pace the stream: a fleet, not a flood
                ahead = self.sent / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)

    def start(self) -> Stream:
        self.thread.start()
        return self

    def finish(self, timeout: float = 120) -> None:
        self.thread.join(timeout)
        self.pub.wait_acked(self.n, timeout)
        self.pub.close()


@pytest.fixture()
def fleet_db(db: psycopg.Connection, pg_url: str) -> str:
    register_fleet(db, ELEVATORS)
    return pg_url


@pytest.mark.parametrize("broker", ["open", SECURE], indirect=True)
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
        broker: EmbeddedBroker, fleet_db: str, tmp_path: Path,
        ingesters: Callable[[dict[str, str], Path], IngestProcess]) -> None:
    env = env_for(fleet_db, broker.url, tmp_path, free_name("ingest"))
    first = ingesters(env, tmp_path / "first.log")
    first.wait_subscribed()
    stream = Stream(broker.url, 20_000, ca_file=ca_of(broker)).start()
    wait_until(lambda: count(fleet_db) >= 4_000, 60, message="a fifth stored")
    first.kill()  # no chance to flush or acknowledge: whatever was in flight is redelivered
    killed_at = count(fleet_db)
    assert killed_at < 20_000, "the kill must land mid-stream"
    second = ingesters(env, tmp_path / "second.log")
    second.wait_subscribed()
    stream.finish()
    wait_until(lambda: count(fleet_db) >= 20_000, 90, message="all 20,000 samples")
    second.stop()
    assert count(fleet_db) == 20_000
    assert duplicates(fleet_db) == 0


@pytest.mark.skipif(find_mosquitto() is None,
                    reason="amqtt, the fallback broker, keeps no persistence across restarts")
@pytest.mark.parametrize("broker", ["open", SECURE], indirect=True)
def test_broker_restart_loses_nothing_published_after_it(
        broker: EmbeddedBroker, fleet_db: str, tmp_path: Path,
        ingesters: Callable[[dict[str, str], Path], IngestProcess]) -> None:
    env = env_for(fleet_db, broker.url, tmp_path, free_name("ingest"))
    ing = ingesters(env, tmp_path / "ingest.log")
    ing.wait_subscribed()
    before = Stream(broker.url, 2_000, ca_file=ca_of(broker)).start()
    before.finish()
    wait_until(lambda: count(fleet_db) == 2_000, 60, message="the first 2,000")
    broker.stop()
    broker.requested_port = broker.port
    broker.start()
    # Published at once, while the ingester is still reconnecting: its persistent session
    # survived the restart, so the broker queues these for it.
    after = Stream(broker.url, 3_000, start_seq=100, ca_file=ca_of(broker)).start()
    after.finish()
    ing.wait_subscribed(count=2)
    wait_until(lambda: count(fleet_db) == 5_000, 90, message="everything after the restart")
    ing.stop()
    assert duplicates(fleet_db) == 0


def test_database_down_for_ten_seconds_loses_nothing(
        broker: EmbeddedBroker, tmp_path: Path,
        ingesters: Callable[[dict[str, str], Path], IngestProcess]) -> None:
    with service_dir("whistle-test-outage-") as data:
        database_outage(broker, tmp_path, EmbeddedPostgres(data), ingesters)


def database_outage(broker: EmbeddedBroker, tmp_path: Path, pg: EmbeddedPostgres,
                    ingesters: Callable[[dict[str, str], Path], IngestProcess]) -> None:
    url = pg.start()
    try:
        from storage.db import migrate

        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            register_fleet(conn, ELEVATORS)
        ing = ingesters(env_for(url, broker.url, tmp_path, free_name("ingest")),
                            tmp_path / "ingest.log")
        ing.wait_subscribed()
        stream = Stream(broker.url, 12_000, rate=600).start()  # ~20 s of traffic
        wait_until(lambda: count(url) >= 1_000, 60, message="traffic flowing")
        pg.stop()
        time.sleep(OUTAGE_S)
        assert stream.sent < stream.n, "the outage must fall mid-stream"
        pg.requested_port = pg.port
        pg.start()
        stream.finish()
        wait_until(lambda: count(url) == 12_000, 120, message="all 12,000 after the outage")
        assert duplicates(url) == 0
        log = ing.text()
        assert "database unreachable" in log and "database reachable" in log
        ing.stop()
    finally:
        pg.stop(mode="immediate")


def test_two_ingesters_share_the_subscription_and_store_each_sample_once(
        broker: EmbeddedBroker, fleet_db: str, tmp_path: Path,
        ingesters: Callable[[dict[str, str], Path], IngestProcess]) -> None:
    group = free_name("share")
    procs = []
    for i in range(2):
        env = env_for(fleet_db, broker.url, tmp_path, free_name(f"ingest{i}"))
        env["WHISTLE_MQTT_SHARE_GROUP"] = group
        env["WHISTLE_MQTT_PROTOCOL"] = "5"
        procs.append(ingesters(env, tmp_path / f"ingest{i}.log"))
    for p in procs:
        p.wait_subscribed()
        # the log says what is safe: Mosquitto 2.0 forgets offline shared sessions
        expected = ("forgets the shared subscriptions" if broker.kind == "mosquitto"
                    else "shared subscription")
        assert expected in p.text(), p.text()[-2000:]
    stream = Stream(broker.url, 20_000).start()
    stream.finish()
    wait_until(lambda: count(fleet_db) >= 20_000, 90, message="all 20,000 samples")
    committed = [p.stop() for p in procs]
    assert count(fleet_db) == 20_000 and duplicates(fleet_db) == 0
    assert all(c > 1_000 for c in committed), f"both must take a share: {committed}"
    assert sum(committed) == 20_000
