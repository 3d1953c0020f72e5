"""The benchmark's machinery: a private PostgreSQL and Mosquitto, and CPU and memory
figures of processes read from /proc."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bench import fleet
from storage.db import migrate
from whistle.embedded.broker import EmbeddedBroker, find_mosquitto
from whistle.embedded.ports import free_port, wait_listening
from whistle.embedded.postgres import EmbeddedPostgres

ELEVATORS = 100


def proc_cpu(pid: int) -> float:
    """user + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process, MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree_cpu(pgdata: Path) -> float:
    """CPU seconds of a PostgreSQL server so far: its postmaster and every child (backends,
    WAL writer, checkpointer) alive now."""
    try:
        root = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d.name) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


class PeerBroker:
    """Mosquitto configured as the Node-RED peer's run.sh configures its own (persistence
    off, no queue limit, 20 in flight for MQTT 3.1.1 clients, Nagle on), so that every
    consumer is offered the load the peer is offered."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "peer-mqtt"
        self.dir.mkdir()
        self.port = free_port()
        user = pwd.getpwuid(os.geteuid()).pw_name
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {user}\n"
                        "persistence false\nmax_queued_messages 0\n"
                        "max_inflight_messages 20\nlog_dest none\n")
        exe = find_mosquitto()
        if exe is None:
            raise SystemExit("bench: --broker peer needs mosquitto")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_listening(self.port, 20):
            self.proc.kill()
            raise SystemExit("bench: the peer-configured mosquitto did not start")
        self.url = f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Services:
    """A private PostgreSQL (Whistle's embedded configuration) and Mosquitto for the run:
    configured like the peer's (``broker="peer"``) or Whistle's embedded one ("whistle")."""

    def __init__(self, broker: str = "peer") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="whistle-bench-"))
        self.dir.chmod(0o755)
        self._servers = 0
        self.pg, self.url = self._database()
        self.broker: EmbeddedBroker | PeerBroker
        if broker == "peer":
            self.broker = PeerBroker(self.dir)
            self.mqtt_url = self.broker.url
        else:
            self.broker = EmbeddedBroker(self.dir)
            self.mqtt_url = self.broker.start()
        assert self.broker.port is not None
        self.mqtt_port = self.broker.port

    def _database(self) -> tuple[EmbeddedPostgres, str]:
        """A new server: migrated, the fleet registered, commit timestamps on."""
        self._servers += 1
        where = self.dir / f"pg{self._servers}"
        where.mkdir()
        where.chmod(0o755)
        pg = EmbeddedPostgres(where)
        url = pg.start()
        with psycopg.connect(url, autocommit=True) as conn:  # exact end-of-run stopwatch
            conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        pg.stop()
        pg.requested_port = pg.port
        url = pg.start()
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            fleet.register(conn, [f"el-{i:04d}" for i in range(ELEVATORS)],
                           travel_m=70.0, rated_load_kg=1000.0)
        return pg, url

    def fresh_database(self) -> None:
        """Replace the server with a new one, as the peer's run.sh starts a new one for
        every run (the work a run leaves behind, autovacuum and checkpoints, is not the
        next run's)."""
        self.pg.stop(mode="immediate")
        shutil.rmtree(self.pg.data_dir, ignore_errors=True)
        self.pg, self.url = self._database()

    def close(self) -> None:
        self.broker.stop()
        self.pg.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
