"""Several `whistle rules` processes against one database (CONTRACT section 10): every
partition owned by exactly one, rebalanced when one joins, taken over with its persisted
state when one is killed, each alert raised once; and the fencing that makes a process
which lost its lease unable to write an alert."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.partitions import PARTITIONS, partition_of
from core.settings import Settings
from ingest import Ingester
from rules import lifecycle
from rules.engine import Engine
from rules.partitions import Leases, Owned
from rules.policy import Rescue
from rules.state import decode as decode_blob
from rules.thresholds import load
from rules.transitions import Transition
from storage import feed, leases
from tests.builders import Fleet, seed_fleet
from tests.helpers import Publisher, wait_until

LEASE_S = 3.0


@pytest.fixture()
def fleet(db: psycopg.Connection) -> Fleet:
    return seed_fleet(db)


def _infos(rows: list[dict[str, Any]]) -> list[Any]:
    from rules.engine import ElevatorInfo

    return [ElevatorInfo(pk=r["pk"], id=r["id"], model=r["model"],
                         rated_speed_mps=float(r["rated_speed_mps"]),
                         rated_load_kg=float(r["rated_load_kg"]),
                         landings_m=tuple(float(x) for x in r["landings_m"]),
                         sealed=bool(r["sealed"])) for r in rows]


def _process(url: str, owner: str) -> tuple[Leases, Owned, Engine]:
    lease = Leases(url, lease_s=LEASE_S, owner=owner, on_change=lambda: None)
    engine = Engine(load(None), [])
    return lease, Owned(lease, engine=lambda: engine, infos=_infos), engine


def _trapped(fleet: Fleet, eid: str) -> Transition:
    return Transition(eid, fleet.pks[eid], "trapped_passenger", "raise",
                      int(time.time() * 1_000_000), "critical", {"test": True})


def test_a_process_that_lost_its_lease_cannot_write_an_alert(settings, db, fleet):
    url = settings.database_url
    assert url is not None
    lease_a, owned_a, engine_a = _process(url, "a")
    lease_b, owned_b, _ = _process(url, "b")
    lease_a.round()
    with psycopg.connect(url, autocommit=True) as conn, \
            contextlib.closing(lease_a), contextlib.closing(lease_b):
        owned_a.step(lambda: contextlib.nullcontext(conn))
        assert len(owned_a.epochs) == PARTITIONS
        assert {i.id for i in engine_a.elevators} == set(fleet.pks)
        p1 = partition_of(fleet.pks["E1"])
        # A is paused past its lease. While a write of A is in flight its leases are
        # locked: nobody can take them.
        db.execute("UPDATE rules_partitions SET expires_at = now() - interval '1 s'")
        with conn.transaction():
            assert p1 in leases.fence(conn, "a", owned_a.epochs)
            with db.transaction():
                assert leases.acquire(db, "b", PARTITIONS, 2.0) == {}
        # Then B takes E1's partition (a new epoch).
        lease_b.round()
        owned_b.step(lambda: contextlib.nullcontext(conn))
        assert p1 in owned_b.epochs and owned_b.epochs[p1] == owned_a.epochs[p1] + 1
        # A wakes up and tries to raise: nothing is written, and A forgets the partition.
        apply = functools.partial(lifecycle.apply, conn, now=datetime.now(UTC),
                                  rescue=Rescue())
        owned_a.write(conn, [_trapped(fleet, "E1")], {p1: 5}, apply)
        assert db.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
        assert p1 not in owned_a.epochs
        assert "E1" not in {i.id for i in engine_a.elevators}
        assert db.execute("SELECT owner, cursor FROM rules_partitions WHERE partition = %s",
                          (p1,)).fetchone() == ("b", 0)
        # The owner writes it, with its cursor.
        owned_b.write(conn, [_trapped(fleet, "E1")], {p1: 5}, apply)
        assert db.execute("SELECT count(*) FROM alerts WHERE kind = 'trapped_passenger'"
                          ).fetchone() == (1,)
        assert db.execute("SELECT cursor FROM rules_partitions WHERE partition = %s",
                          (p1,)).fetchone() == (5,)


def test_a_process_that_joins_gets_its_share_and_one_that_leaves_hands_it_back(
        settings, db, fleet):
    url = settings.database_url
    assert url is not None
    upper = 0  # an elevator in the upper half of the partitions, which a gives back
    while partition_of(upper) < PARTITIONS // 2:
        upper = fleet.add_elevator(db, f"X{len(fleet.pks)}", "S1")
    lease_a, owned_a, _ = _process(url, "a")
    lease_b, owned_b, engine_b = _process(url, "b")
    with psycopg.connect(url, autocommit=True) as conn, \
            contextlib.closing(lease_a), contextlib.closing(lease_b):
        def step(owned: Owned) -> None:
            owned.step(lambda: contextlib.nullcontext(conn))

        lease_a.round()
        step(owned_a)
        lease_b.round()  # everything is taken: b waits for a to give some back
        step(owned_b)
        assert len(owned_a.epochs) == PARTITIONS and owned_b.epochs == {}
        lease_a.round()
        step(owned_a)  # two processes alive: a gives back half, with its state saved
        assert len(owned_a.epochs) == PARTITIONS // 2
        assert db.execute("SELECT count(*) FROM rule_state WHERE elevator_pk = %s",
                          (upper,)).fetchone() == (1,)
        lease_b.round()
        step(owned_b)
        assert len(owned_b.epochs) == PARTITIONS // 2
        assert not set(owned_a.epochs) & set(owned_b.epochs)
        assert Counter(leases.owners(db).values()) == {"a": 32, "b": 32}
        assert upper in {i.pk for i in engine_b.elevators}
        assert {i.pk for i in engine_b.elevators} == {
            r[0] for r in db.execute("SELECT pk FROM elevators") if partition_of(r[0]) >= 32}
        owned_b.leave(conn)  # b stops: everything back at once, and it says goodbye
        lease_b.leave()
        assert Counter(leases.owners(db).values()) == {"a": 32, None: 32}
        lease_a.round()
        step(owned_a)
        assert len(owned_a.epochs) == PARTITIONS


# --- real processes ------------------------------------------------------------------------
def _env(settings: Settings, rules_file: Path, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "WHISTLE_DATABASE_URL": str(settings.database_url),
        "WHISTLE_MQTT_URL": str(settings.mqtt_url),
        "WHISTLE_MQTT_TOPIC_PREFIX": settings.mqtt_topic_prefix,
        "WHISTLE_MQTT_CLIENT_ID": f"rules-{uuid.uuid4().hex[:8]}",
        "WHISTLE_ADMIN_TOKEN": str(settings.admin_token),
        "WHISTLE_DATA_DIR": str(tmp_path),
        "WHISTLE_RULES_FILE": str(rules_file),
        "WHISTLE_RULES_LEASE_S": str(LEASE_S),
        "WHISTLE_LOG_LEVEL": "warning",
    })
    return env


@pytest.fixture()
def spawn(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[escalation.timers]\npersist = "0.3s"\ntick = "0.2s"\n')
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "whistle", "rules"],
                                env=_env(settings, rules_file, tmp_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _owners(db: psycopg.Connection) -> Counter[str | None]:
    return Counter(leases.owners(db).values())


def _trapped_sample(t_ms: int, seq: int) -> dict[str, Any]:
    return {"ts": t_ms, "seq": seq, "floor": 2, "speed_mps": 0.0, "door": "closed",
            "pos_m": 6.0, "occupied": True}


def test_two_processes_share_take_over_after_a_kill_and_raise_once(settings, db, fleet,
                                                                   mqtt_url, spawn):
    ingester = Ingester(settings)
    ingester.start()
    pub = Publisher(mqtt_url)
    try:
        assert ingester.wait_subscribed(10)
        first = spawn()
        wait_until(lambda: len(_owners(db)) == 1 and None not in _owners(db), 60,
                   message="the first process to own every partition")
        (name_a,) = _owners(db)
        second = spawn()
        # It joins: the first gives back half, the second takes them; never two owners.
        wait_until(lambda: sorted(_owners(db).values()) == [32, 32] and None not in
                   _owners(db), 60, message="a fair share each")
        owners = leases.owners(db)
        assert len(owners) == PARTITIONS
        pk = fleet.pks["E1"]
        p1 = partition_of(pk)
        victim = first if owners[p1] == name_a else second
        survivor = second if victim is first else first
        # A passenger is trapped; the owner processes 10 s of it and saves its state.
        topic = settings.topic("lift/E1/telemetry")
        t0 = int(time.time() * 1000) - 60_000
        pub.publish(topic, [_trapped_sample(t0 + i * 1000, i) for i in range(11)])
        def saved_last_ts() -> float | None:
            row = db.execute("SELECT blob FROM rule_state WHERE elevator_pk = %s",
                             (pk,)).fetchone()
            return None if row is None else decode_blob(bytes(row[0])).f.get("LAST_TS")

        wait_until(lambda: saved_last_ts() == (t0 + 10_000) * 1000, 20,
                   message="the owner to process the samples and save its state")
        assert db.execute("SELECT count(*) FROM alerts WHERE kind = 'trapped_passenger'"
                          ).fetchone() == (0,)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        # The next 25 s of it: only a process that continues the persisted timer raises
        # the alert by t0 + 35 s (one starting afresh would wait until t0 + 41 s).
        pub.publish(topic, [_trapped_sample(t0 + i * 1000, i) for i in range(11, 36)])
        row = wait_until(lambda: db.execute(
            "SELECT opened_at, details FROM alerts WHERE kind = 'trapped_passenger'"
        ).fetchone(), 60, message="trapped_passenger raised by the survivor")
        assert row[1]["trapped_since_us"] == t0 * 1000
        assert abs(row[0].timestamp() * 1000 - (t0 + 30_000)) <= 1000
        wait_until(lambda: _owners(db) == Counter({_owners(db).most_common(1)[0][0]: 64}),
                   30, message="the survivor to own every partition")
        assert survivor.poll() is None
        # More of the same, redelivered samples included: still one alert.
        pub.publish(topic, [_trapped_sample(t0 + i * 1000, i) for i in range(30, 40)])
        pub.wait_acked(3)
        wait_until(lambda: db.execute(
            "SELECT count(*) FROM telemetry WHERE elevator_pk = %s", (pk,)).fetchone() == (40,),
            20, message="every sample stored once")
        wait_until(lambda: feed.behind(db, [p1]) == 0, 20,
            message="the survivor to process them")
        assert db.execute("SELECT count(*) FROM alerts WHERE kind = 'trapped_passenger'"
                          ).fetchone() == (1,)
        # A clean stop gives everything back at once.
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0
        assert _owners(db) == Counter({None: PARTITIONS})
    finally:
        pub.close()
        ingester.stop()
