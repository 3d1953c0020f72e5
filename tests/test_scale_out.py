"""The production topology of CONTRACT section 10 on one machine: two `whistle ingest`
processes on one MQTT 5 shared subscription and two `whistle rules` processes on partition
leases, against one broker and one database. Every sample is stored once and every
injected trapped passenger is alerted exactly once, across a SIGKILL of the rules process
that owns it in the middle of the 30 seconds and a restart of the broker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.partitions import partition_of
from rules.state import decode as decode_blob
from storage import feed, leases
from tests.builders import register_fleet
from tests.helpers import Publisher, free_name, wait_until
from tests.ingest.test_resilience import IngestProcess, duplicates, env_for
from whistle.embedded.broker import EmbeddedBroker, find_mosquitto

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    find_mosquitto() is None, reason="needs Mosquitto (amqtt has no shared subscriptions)")]

ELEVATORS = [f"S{i:02d}" for i in range(12)]
TRAPPED = ELEVATORS[:6]  # a passenger trapped in each; the others run normally
LEASE_S = 3.0


def _sample(t_ms: int, seq: int, trapped: bool) -> dict[str, Any]:
    if trapped:
        return {"ts": t_ms, "seq": seq, "floor": 2, "speed_mps": 0.0, "door": "closed",
                "pos_m": 6.0, "occupied": True}
    return {"ts": t_ms, "seq": seq, "floor": 2, "speed_mps": 0.0, "door": "open",
            "pos_m": 6.0, "occupied": False}


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path / "broker", kind="mosquitto")
    b.start()
    yield b
    b.stop()


@pytest.fixture()
def processes() -> Iterator[Callable[..., Any]]:
    started: list[Any] = []

    def start(kind: str, env: dict[str, str], log: Path) -> Any:
        if kind == "ingest":
            proc: Any = IngestProcess(env, log)
        else:
            with log.open("ab") as out:  # the child keeps its own descriptor
                proc = subprocess.Popen([sys.executable, "-m", "whistle", "rules"], env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield start
    for p in started:
        popen = p.proc if isinstance(p, IngestProcess) else p
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)


def _owners(db: psycopg.Connection) -> Counter[str | None]:
    return Counter(leases.owners(db).values())


def test_two_ingesters_and_two_rules_processes_lose_nothing_and_alert_once(
        broker: EmbeddedBroker, db: psycopg.Connection, pg_url: str, tmp_path: Path,
        processes: Callable[..., Any]) -> None:
    pks = register_fleet(db, ELEVATORS)
    group = free_name("share")
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[escalation.timers]\npersist = "0.3s"\ntick = "0.2s"\n')
    ingesters = []
    for i in range(2):
        env = env_for(pg_url, broker.url, tmp_path, free_name(f"ingest{i}"))
        env.update(WHISTLE_MQTT_SHARE_GROUP=group, WHISTLE_MQTT_PROTOCOL="5")
        ingesters.append(processes("ingest", env, tmp_path / f"ingest{i}.log"))
    rules = []
    for i in range(2):
        env = env_for(pg_url, broker.url, tmp_path, f"rules-{uuid.uuid4().hex[:8]}")
        env.update(WHISTLE_RULES_FILE=str(rules_file), WHISTLE_RULES_LEASE_S=str(LEASE_S),
                   WHISTLE_LOG_LEVEL="warning")
        rules.append(processes("rules", env, tmp_path / f"rules{i}.log"))
    for p in ingesters:
        p.wait_subscribed()
    wait_until(lambda: sorted(_owners(db).values()) == [32, 32] and None not in _owners(db),
               60, message="the two rules processes to share the partitions")

    pub = Publisher(broker.url, window=100)
    t0 = int(time.time() * 1000) - 120_000

    def publish(first: int, last: int) -> int:
        sent = 0
        for eid in ELEVATORS:
            pub.publish(f"lift/{eid}/telemetry",
                        [_sample(t0 + s * 1000, s, eid in TRAPPED) for s in range(first, last)])
            sent += 1
        return sent

    def last_saved(eid: str) -> float | None:
        row = db.execute("SELECT blob FROM rule_state WHERE elevator_pk = %s",
                         (pks[eid],)).fetchone()
        return None if row is None else decode_blob(bytes(row[0])).f.get("LAST_TS")

    try:
        # ten seconds of every elevator; the owners save the trapped timers
        published = publish(0, 11)
        for eid in TRAPPED:
            wait_until(lambda e=eid: last_saved(e) == (t0 + 10_000) * 1000, 30,
                       message=f"{eid}'s state saved by its owner")
        assert db.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
        # kill the owner of the first trapped elevator, in the middle of its 30 seconds
        owner = leases.owners(db)[partition_of(pks[TRAPPED[0]])]
        assert owner is not None
        (victim,) = [p for p in rules if f":{p.pid}:" in owner]  # names hold the pid
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        wait_until(lambda: len(_owners(db)) == 1 and None not in _owners(db), 30,
                   message="the survivor to own every partition")
        # the broker restarts; published once both ingesters are subscribed again
        pub.close()
        broker.stop()
        broker.requested_port = broker.port
        broker.start()
        for p in ingesters:
            p.wait_subscribed(count=2, timeout=60)
        pub = Publisher(broker.url, window=100)
        published += publish(11, 36)
        pub.wait_acked(published - 12, 60)  # the second publisher's messages

        expected = len(ELEVATORS) * 36
        wait_until(lambda: db.execute("SELECT count(*) FROM telemetry").fetchone()[0]
                   == expected, 60, message="every sample stored")
        wait_until(lambda: db.execute(
            "SELECT count(*) FROM alerts WHERE kind = 'trapped_passenger'").fetchone()[0]
            == len(TRAPPED), 60, message="every trapped passenger alerted")
        # redelivered samples change nothing
        published += publish(30, 36)
        wait_until(lambda: feed.behind(db) == 0, 30,
            message="the survivor to read the whole feed")
        rows = db.execute("SELECT e.id, count(*), min(a.details->>'trapped_since_us') "
                          "FROM alerts a JOIN elevators e ON e.pk = a.elevator_pk "
                          "GROUP BY e.id, a.kind ORDER BY e.id").fetchall()
        assert [(r[0], r[1]) for r in rows] == [(e, 1) for e in TRAPPED]
        # each timer went on from the saved state: trapped since the first sample
        assert all(int(r[2]) == t0 * 1000 for r in rows), rows
        assert db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == expected
        assert duplicates(pg_url) == 0
        committed = [p.stop() for p in ingesters]
        assert all(c > 0 for c in committed), f"both ingesters take a share: {committed}"
        assert sum(committed) >= published - len(ELEVATORS)  # redeliveries may not commit
    finally:
        pub.close()
