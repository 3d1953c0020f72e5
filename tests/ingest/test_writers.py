"""Several write threads: batches written at once, finished in the order they arrived."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from core.partitions import PARTITIONS
from core.settings import Settings
from core.stream import Committed
from ingest import Ingester
from ingest.pipeline import _Jobs
from ingest.prepare import Prepared
from messaging.subscriber import Inbound
from storage import feed
from tests.builders import register_fleet, sample
from tests.helpers import Publisher, now_ms, wait_until

ELEVATORS = ["W1", "W2", "W3"]


def _prepared(spans: dict[int, tuple[int, int]], events: tuple[int, ...] = ()) -> Prepared:
    p = Prepared()
    p.spans.update(spans)
    p.event_pks.update(events)
    return p


def _job(n: int, samples: int) -> tuple[int, list[Inbound], Prepared]:
    p = Prepared()
    p.batch.samples.extend([None] * samples)  # type: ignore[list-item]  # only counted
    return n, [], p


def test_a_further_writer_takes_large_batches_only_and_the_first_takes_any() -> None:
    jobs = _Jobs(depth=2, large=10)
    jobs.put(_job(0, 3))
    with pytest.raises(queue.Empty):
        jobs.get(1, timeout=0.01)  # a small batch is the first writer's
    assert jobs.get(0, timeout=1)[0] == 0
    jobs.put(_job(1, 10))
    assert jobs.get(1, timeout=1)[0] == 1  # a backlog's batch: whichever writer is free
    jobs.put(_job(2, 50))
    assert jobs.get(0, timeout=1)[0] == 2


def test_the_batches_waiting_are_bounded_and_close_lets_each_writer_finish() -> None:
    jobs = _Jobs(depth=2, large=10)
    jobs.put(_job(0, 3))
    jobs.put(_job(1, 3))
    third = threading.Thread(target=jobs.put, args=(_job(2, 3),))
    third.start()
    third.join(0.05)
    assert third.is_alive(), "a third batch waits while two are waiting"
    assert jobs.get(0, timeout=1)[0] == 0
    third.join(5)
    assert not third.is_alive()
    jobs.close()
    assert jobs.get(1, timeout=1) is None  # nothing left it may take
    assert [jobs.get(0, timeout=1)[0], jobs.get(0, timeout=1)[0]] == [1, 2]  # type: ignore[index]
    assert jobs.get(0, timeout=1) is None


def test_batches_overlap_when_they_share_an_elevator_time_span_or_its_events() -> None:
    a = _prepared({1: (100, 200), 2: (100, 200)})
    assert not a.overlaps(_prepared({1: (201, 300), 3: (0, 1000)}))  # later, or another lift
    assert not a.overlaps(Prepared())
    assert a.overlaps(_prepared({1: (200, 300)}))  # the same last instant
    assert a.overlaps(_prepared({2: (0, 100)}))  # the same first instant
    assert a.overlaps(_prepared({2: (150, 160)}))  # within
    assert _prepared({}, (5,)).overlaps(_prepared({}, (5,)))  # events of one elevator
    assert not _prepared({}, (5,)).overlaps(_prepared({5: (0, 10)}, (6,)))


class Recording(Ingester):
    """An ingester that notes what it acknowledges, in the order it does."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.acked: list[tuple[str, bytes]] = []

    def _ack(self, items: list[Inbound]) -> int:
        self.acked.extend((i.topic, i.payload) for i in items)
        return super()._ack(items)


@pytest.fixture()
def fleet(db: psycopg.Connection) -> dict[str, int]:
    return register_fleet(db, ELEVATORS)


@pytest.fixture()
def pub(mqtt_url: str) -> Iterator[Publisher]:
    p = Publisher(mqtt_url)
    yield p
    p.close()


@pytest.mark.parametrize("rules", ["in-process", "feed"])
def test_two_writers_store_acknowledge_and_hand_over_in_arrival_order(
        rules: str, settings: Settings, fleet: dict[str, int], pub: Publisher,
        db: psycopg.Connection) -> None:
    """Small batches on two writers, with samples sent again across batch boundaries and
    connection events in between: every sample stored and handed over once, per elevator
    in the order sent, acknowledgements in the order of arrival, and no two writers
    waiting on each other for ever."""
    settings = settings.model_copy(update={"ingest_writers": 2, "ingest_batch_samples": 12,
                                           "ingest_linger_ms": 0})
    handed: list[tuple[int, int]] = []

    def on_commit(c: Committed) -> None:
        handed.extend((pk, ts) for _e, pk, msg in c.messages for ts in msg.ts_us)

    ing = Recording(settings, on_commit=on_commit if rules == "in-process" else None)
    ing.start()
    sent: list[tuple[str, bytes]] = []
    unique: set[tuple[int, int]] = set()

    def publish(topic: str, body: Any) -> None:
        payload = json.dumps(body).encode()
        pub.publish(topic, payload)
        sent.append((topic, payload))

    try:
        assert ing.wait_subscribed(10)
        t0 = now_ms() - 600_000
        previous: dict[str, list[dict[str, Any]]] = {}
        for i in range(120):
            eid, k = ELEVATORS[i % 3], i // 3
            if i % 7 == 6 and eid in previous:  # this lift's last message, again
                body = previous[eid]
            else:
                body = [sample(t0 + (4 * k + j) * 100, 4 * k + j) for j in range(4)]
            previous[eid] = body
            unique.update((fleet[eid], s["ts"] * 1000) for s in body)
            publish(settings.topic(f"lift/{eid}/telemetry"), body)
            if i % 25 == 0:
                publish(settings.topic(f"lift/{eid}/state"), {"state": "online", "ts": t0 + i})
        wait_until(lambda: len(ing.acked) == len(sent), 30, message="everything acknowledged")
    finally:
        ing.stop()
    assert db.execute("SELECT count(*) FROM telemetry").fetchone() == (len(unique),)
    assert ing.acked == sent  # in the order they arrived (one publisher, one connection)
    assert min(ing.pipeline.batches_by_writer) > 0, "both writers wrote batches"
    if rules == "feed":
        rows, _last = feed.read(db, dict.fromkeys(range(PARTITIONS), 0), limit=10_000)
        got = feed.decode(body for _p, _s, body in rows)
        handed = [(pk, ts) for _e, pk, msg in got.messages for ts in msg.ts_us]
        seqs = [r[0] for r in db.execute("SELECT seq FROM rules_feed ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
    assert sorted(handed) == sorted(unique)  # each once
    for pk in fleet.values():
        times = [ts for p, ts in handed if p == pk]
        assert times == sorted(times), "each elevator's samples in the order sent"
