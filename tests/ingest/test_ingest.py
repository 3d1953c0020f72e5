"""The ingester against a real broker and a real PostgreSQL: what is stored, what is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from core.partitions import PARTITIONS, partition_of
from core.settings import Settings
from core.stream import Committed
from ingest import Ingester
from storage import feed
from tests.builders import register_fleet, sample
from tests.helpers import ApiServer, Publisher, now_ms, wait_until


@pytest.fixture()
def fleet(db: psycopg.Connection) -> dict[str, int]:
    """Three registered elevators (load 1000 kg, travel 60 m)."""
    return register_fleet(db, ["L1", "L2", "L3"])


@pytest.fixture()
def ingester(settings: Settings, fleet: dict[str, int]) -> Iterator[Ingester]:
    """A running ingester subscribed under the test's topic prefix."""
    ing = Ingester(settings)
    ing.start()
    assert ing.wait_subscribed(10), "ingester did not subscribe"
    yield ing
    ing.stop()


@pytest.fixture()
def pub(mqtt_url: str) -> Iterator[Publisher]:
    """A QoS 1 publisher."""
    p = Publisher(mqtt_url)
    yield p
    p.close()


def rows(db: psycopg.Connection, elevator: str | None = None) -> int:
    """Stored samples (of one elevator)."""
    q = "SELECT count(*) FROM telemetry t JOIN elevators e ON e.pk = t.elevator_pk"
    if elevator:
        return int(db.execute(q + " WHERE e.id = %s", (elevator,)).fetchone()[0])
    return int(db.execute(q).fetchone()[0])


def rejects(db: psycopg.Connection) -> list[tuple[str, str, str, bytes]]:
    """(reason, detail, topic, payload) of stored rejects, oldest first."""
    return [(r[0], r[1], r[2], bytes(r[3])) for r in db.execute(
        "SELECT reason, detail, topic, payload FROM ingest_rejects ORDER BY id").fetchall()]


def topic(settings: Settings, elevator: str, kind: str = "telemetry") -> str:
    return settings.topic(f"lift/{elevator}/{kind}")


def test_single_samples_and_arrays_are_stored(ingester: Ingester, pub: Publisher,
                                              settings: Settings, db: psycopg.Connection) -> None:
    t0 = now_ms() - 60_000
    pub.publish(topic(settings, "L1"), sample(t0, 0))
    pub.publish(topic(settings, "L2"), [sample(t0 + i * 100, i, floor=i % 5) for i in range(50)])
    pub.publish(topic(settings, "L3"), sample("2026-01-01T08:00:00.250+01:00", 7))
    wait_until(lambda: rows(db) == 52, message="52 stored samples")
    assert rows(db, "L2") == 50
    row = db.execute(
        "SELECT ts, seq, floor, door_name(door), power_name(power), mode_name(mode), load_kg "
        "FROM telemetry t JOIN elevators e ON e.pk = t.elevator_pk WHERE e.id = 'L3'"
    ).fetchone()
    assert row[0].isoformat() == "2026-01-01T07:00:00.250000+00:00"
    assert row[1:] == (7, 3, "closed", "mains", "normal", 150.0)
    assert rejects(db) == []


def test_a_redelivered_sample_is_stored_once(ingester: Ingester, pub: Publisher,
                                             settings: Settings, db: psycopg.Connection) -> None:
    t0 = now_ms() - 10_000
    batch = [sample(t0 + i, i) for i in range(10)]
    pub.publish(topic(settings, "L1"), batch)
    wait_until(lambda: rows(db, "L1") == 10)
    pub.publish(topic(settings, "L1"), batch)  # the same message again
    pub.publish(topic(settings, "L1"), batch[3])  # one sample of it alone
    # no seq: (elevator, ts) decides, NULL seq equal to NULL seq
    pub.publish(topic(settings, "L1"), sample(t0 + 500))
    pub.publish(topic(settings, "L1"), sample(t0 + 500))
    pub.publish(topic(settings, "L1"), sample(t0 + 999, 999))  # a marker sent last
    wait_until(lambda: rows(db, "L1") == 12, message="marker and seq-less sample")
    assert ingester.pipeline.committed_messages >= 6
    dupes = db.execute("SELECT count(*) - count(DISTINCT (elevator_pk, ts, seq)) "
                       "FROM telemetry").fetchone()[0]
    assert dupes == 0


def test_the_rules_get_each_committed_sample_once_and_never_a_redelivery(
        settings: Settings, fleet: dict[str, int], pub: Publisher,
        db: psycopg.Connection) -> None:
    handed: list[tuple[str, int, int | None]] = []
    states: list[tuple[str, str]] = []

    def on_commit(committed: Committed) -> None:
        handed.extend((eid, ts, s.seq) for eid, _pk, msg in committed.messages
                      for s, ts in zip(msg.samples, msg.ts_us, strict=True))
        states.extend((eid, state) for eid, _pk, state, _ts in committed.states)

    ing = Ingester(settings, on_commit=on_commit)
    ing.start()
    try:
        assert ing.wait_subscribed(10)
        t0 = now_ms() - 10_000
        batch = [sample(t0 + i, i) for i in range(5)]
        pub.publish(topic(settings, "L1"), batch)
        wait_until(lambda: rows(db, "L1") == 5)
        pub.publish(topic(settings, "L1"), batch)  # redelivered whole
        pub.publish(topic(settings, "L1"), [batch[1], sample(t0 + 5, 5)])  # one old, one new
        pub.publish(topic(settings, "L1"), sample(t0 + 6, 6, fault="E42"))  # a fault code
        pub.publish(topic(settings, "L1"), sample(t0 + 6, 6, fault="E42"))  # ... again
        pub.publish(topic(settings, "L1", "state"), {"state": "online", "ts": t0})
        pub.publish(topic(settings, "L1"), sample(t0 + 999, 999))  # a marker sent last
        marker = ("L1", (t0 + 999) * 1000, 999)
        wait_until(lambda: marker in handed, message="the marker handed to the rules")
    finally:
        ing.stop()
    expected = [("L1", (t0 + i) * 1000, i) for i in range(7)] + [("L1", (t0 + 999) * 1000, 999)]
    assert sorted(handed) == sorted(expected)
    assert states == [("L1", "online")]


def test_a_standalone_ingester_writes_each_new_sample_once_to_the_rules_feed(
        ingester: Ingester, settings: Settings, fleet: dict[str, int], pub: Publisher,
        db: psycopg.Connection) -> None:
    """No rules in this process: what was new goes to the feed, a row per batch in the
    telemetry transaction, numbered without gaps (what `whistle rules` processes read),
    and a reader of one partition gets that partition's samples and no other's."""
    t0 = now_ms() - 10_000
    batch = [sample(t0 + i, i) for i in range(5)]
    pub.publish(topic(settings, "L1"), batch)
    pub.publish(topic(settings, "L2"), batch[:2])
    wait_until(lambda: rows(db) == 7)
    pub.publish(topic(settings, "L1"), batch)  # redelivered whole
    pub.publish(topic(settings, "L1"), [batch[1], sample(t0 + 5, 5)])  # one old, one new
    pub.publish(topic(settings, "L1", "state"), {"state": "online", "ts": t0})
    pub.publish(topic(settings, "L1"), sample(t0 + 999, 999))  # a marker sent last

    def fed(parts: range | set[int] = range(PARTITIONS)) -> list[tuple[int, int, int | None]]:
        got = feed.decode(body for _p, _s, body in feed.read(
            db, dict.fromkeys(parts, 0), limit=1000)[0])
        return [(pk, ts, s.seq) for _eid, pk, msg in got.messages
                for s, ts in zip(msg.samples, msg.ts_us, strict=True)]

    wait_until(lambda: (fleet["L1"], (t0 + 999) * 1000, 999) in fed(), message="the marker")
    expected = ([(fleet["L1"], (t0 + i) * 1000, i) for i in (*range(6), 999)]
                + [(fleet["L2"], (t0 + i) * 1000, i) for i in range(2)])
    assert sorted(fed()) == sorted(expected)
    assert partition_of(fleet["L1"]) != partition_of(fleet["L2"])
    assert sorted(fed({partition_of(fleet["L2"])})) == sorted(
        e for e in expected if e[0] == fleet["L2"])
    seqs = [r[0] for r in db.execute("SELECT seq FROM rules_feed ORDER BY seq")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert db.execute("SELECT head FROM rules_feed_head").fetchone() == (seqs[-1],)
    parts, last = feed.read(db, dict.fromkeys(range(PARTITIONS), 0), limit=1000)
    assert last == seqs[-1]
    states = feed.decode(body for _p, _s, body in parts).states
    assert [(eid, state) for eid, _pk, state, _ts in states] == [("L1", "online")]
    # read after the last row: nothing new
    assert feed.read(db, dict.fromkeys(range(PARTITIONS), last), limit=1000) == ([], None)


def test_a_mixed_batch_with_a_duplicate_keeps_the_new_samples(
        ingester: Ingester, pub: Publisher, settings: Settings, db: psycopg.Connection) -> None:
    t0 = now_ms() - 10_000
    pub.publish(topic(settings, "L2"), sample(t0, 0))
    wait_until(lambda: rows(db, "L2") == 1)
    pub.publish(topic(settings, "L2"), [sample(t0, 0), sample(t0 + 1000, 1),
                                          sample(t0 + 2000, 2)])
    wait_until(lambda: rows(db, "L2") == 3, message="the two new samples of the batch")


BAD = [
    # (payload, reason, a phrase of the detail)
    (b"\xff\xfe{}", "not_utf8", "not UTF-8"),
    (b'{"ts": 1, "floor": ', "not_json", "not JSON"),
    (b'"just a string"', "wrong_type", "sample object or an array"),
    (b"[]", "empty", "no samples"),
    ({"floor": 1, "speed_mps": 0, "door": "open"}, "missing_field", "missing field ts"),
    ([{"floor": 1, "speed_mps": 0, "door": "open"}], "missing_field",
     "missing field ts in sample 0"),
    ("SAMPLE", "missing_field", "missing field door in sample 1"),
    ({"ts": "NOW", "floor": "3", "speed_mps": 0, "door": "open"}, "wrong_type",
     "field floor has the wrong type"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "open", "alarm": "yes"}, "wrong_type",
     "field alarm"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 25.0, "door": "open"}, "out_of_range",
     "speed_mps out of range"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "open", "motor_temp_c": 400},
     "out_of_range", "motor_temp_c"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "open", "level_mm": -1500},
     "out_of_range", "level_mm"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "open", "load_kg": 5001},
     "out_of_range", "over 5 x the rated load"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "open", "pos_m": 75.0},
     "out_of_range", "outside the shaft"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "open", "seq": -1}, "out_of_range",
     "seq"),
    ({"ts": "NOW", "floor": 3, "speed_mps": 0, "door": "ajar"}, "invalid_value", "'ajar'"),
    ({"ts": "2026-01-01T00:00:00", "floor": 3, "speed_mps": 0, "door": "open"},
     "invalid_value", "no UTC offset"),
    ({"ts": "yesterday", "floor": 3, "speed_mps": 0, "door": "open"}, "invalid_value",
     "RFC 3339"),
    ({"ts": "FUTURE", "floor": 3, "speed_mps": 0, "door": "open"}, "ts_in_future",
     "in the future"),
    ("TOO_MANY", "too_many_samples", "at most 1000"),
    ("TOO_LARGE", "too_large", "at most 262144"),
]


def _payload(spec: Any) -> bytes:
    now = now_ms()
    if spec == "SAMPLE":
        return json.dumps([sample(now), {"ts": now, "floor": 1, "speed_mps": 0}]).encode()
    if spec == "TOO_MANY":
        return json.dumps([sample(now - 2000 + i, i) for i in range(1001)]).encode()
    if spec == "TOO_LARGE":
        # Over the contract's 256 KiB, under the brokers' packet limit (256 KiB + headers).
        return json.dumps(sample(now, fault="x" * 262_300)).encode()
    if isinstance(spec, bytes):
        return spec
    text = json.dumps(spec).replace('"NOW"', str(now))
    return text.replace('"FUTURE"', str(now + 3_600_000)).encode()


def test_every_reject_reason_is_stored_and_the_next_message_still_lands(
        ingester: Ingester, pub: Publisher, settings: Settings, db: psycopg.Connection) -> None:
    t0 = now_ms() - 100_000
    payloads = [_payload(spec) for spec, _, _ in BAD]
    for i, payload in enumerate(payloads):
        pub.publish(topic(settings, "L1"), payload)
        pub.publish(topic(settings, "L1"), sample(t0 + i * 1000, i))  # good after each bad
    pub.publish(topic(settings, "NOT-REGISTERED"), sample(t0, 0))
    pub.publish(settings.topic("lift/bad.id/telemetry"), sample(t0, 0))
    wait_until(lambda: len(rejects(db)) == len(BAD) + 2, message="every reject stored")
    wait_until(lambda: rows(db, "L1") == len(BAD), message="every good message stored")
    stored = rejects(db)
    for (_, reason, phrase), sent, (got_reason, detail, got_topic, payload) in zip(
            BAD, payloads, stored, strict=False):
        assert (got_reason, got_topic) == (reason, topic(settings, "L1")), detail
        assert phrase in detail, f"{reason}: {detail!r} lacks {phrase!r}"
        assert payload == sent[:4096]
    assert stored[-2][0] == "unregistered_elevator" and "NOT-REGISTERED" in stored[-2][1]
    assert stored[-1][0] == "bad_topic"
    assert len(stored[[reason for _, reason, _ in BAD].index("too_large")][3]) == 4096


def test_rejects_are_listed_by_the_api_and_counted_in_metrics(
        ingester: Ingester, pub: Publisher, settings: Settings, db: psycopg.Connection) -> None:
    pub.publish(topic(settings, "L1"), b"not json")
    pub.publish(topic(settings, "GHOST"), sample(now_ms(), 1))
    wait_until(lambda: len(rejects(db)) == 2)
    with ApiServer(settings) as url, httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {settings.admin_token}"}) as api:
        listed = api.get("/api/v1/ingest/rejects").json()
        assert [r["reason"] for r in listed] == ["unregistered_elevator", "not_json"]
        assert listed[1]["payload"] == "not json" and listed[1]["elevator_id"] == "L1"
        assert [r["reason"] for r in api.get("/api/v1/ingest/rejects",
                                             params={"reason": "not_json"}).json()] == ["not_json"]
        metrics = api.get("/metrics").text
        assert 'whistle_rejects_stored{reason="not_json"} 1.0' in metrics
        assert 'whistle_ingest_rejected_total{reason="unregistered_elevator"}' in metrics


def test_a_flood_of_bad_messages_stores_a_bounded_number_and_loses_nothing_good(
        ingester: Ingester, pub: Publisher, settings: Settings, db: psycopg.Connection) -> None:
    from ingest import metrics
    from ingest.budget import PER_MINUTE

    def unstored() -> float:
        return metrics.REJECTS_NOT_STORED.labels("unregistered_elevator")._value.get()

    before = unstored()
    flood = 3 * PER_MINUTE
    for i in range(flood):
        pub.publish(topic(settings, "FLOOD"), sample(now_ms(), i))
    pub.publish(topic(settings, "L1"), sample(now_ms(), 1))  # genuine, after the flood
    wait_until(lambda: rows(db, "L1") == 1, message="the genuine sample after the flood")
    wait_until(lambda: unstored() - before == flood - PER_MINUTE, message="the rest counted")
    stored = db.execute("SELECT count(*) FROM ingest_rejects WHERE elevator_id = 'FLOOD'"
                        ).fetchone()[0]
    assert stored == PER_MINUTE, "at most the budget is stored per sender, reason and minute"


def test_state_messages_record_online_and_offline(
        ingester: Ingester, pub: Publisher, settings: Settings, db: psycopg.Connection) -> None:
    t0 = now_ms()
    pub.publish(topic(settings, "L1", "state"), {"state": "online", "ts": t0}, retain=True)
    pub.publish(topic(settings, "L1", "state"), {"state": "offline", "ts": t0 + 5},
                retain=True)
    pub.publish(topic(settings, "L1", "state"), {"state": "sleeping", "ts": t0 + 6})

    def events() -> list[str]:
        return [r[0] for r in db.execute(
            "SELECT state FROM connection_events ORDER BY received_at, ts").fetchall()]

    wait_until(lambda: events() == ["online", "offline"], message="two connection events")
    wait_until(lambda: len(rejects(db)) == 1)
    assert rejects(db)[0][0] == "invalid_value"
    conn_state = db.execute("SELECT connection FROM elevator_state es JOIN elevators e "
                            "ON e.pk = es.elevator_pk WHERE e.id = 'L1'").fetchone()[0]
    assert conn_state == "offline"
    pub.publish(topic(settings, "L1", "state"), b"", retain=True)  # clears the retained state
    pub.wait_acked(4)


def test_status_latest_sample_and_history_through_the_api(
        ingester: Ingester, pub: Publisher, settings: Settings, db: psycopg.Connection) -> None:
    # On a minute boundary: two full 1-minute buckets (a bucket holding one sample of a
    # slow second would make the bucket test depend on the clock)
    t0 = now_ms() // 60_000 * 60_000 - 180_000
    pub.publish(topic(settings, "L1"),
                [sample(t0 + i * 1000, i, speed_mps=1.0 + (i % 2), motor_temp_c=40.0 + i)
                 for i in range(120)])
    wait_until(lambda: rows(db, "L1") == 120)
    with ApiServer(settings) as url, httpx.Client(
            base_url=f"{url}/api/v1",
            headers={"Authorization": f"Bearer {settings.admin_token}"}) as api:
        # the latest sample is written at most once a second per elevator
        el = wait_until(lambda: (e := api.get("/elevators/L1").json())["latest"]
                        and e["latest"]["seq"] == 119 and e, message="latest sample")
        assert el["status"] == "normal"
        assert el["latest"]["motor_temp_c"] == 159.0
        assert api.get("/elevators/L2").json()["status"] == "unknown"
        start = t0 - 1
        raw = api.get("/elevators/L1/telemetry", params={"start": start, "end": t0 + 200_000})
        assert raw.status_code == 200 and len(raw.json()) == 120
        assert raw.json()[0]["door"] == "closed" and raw.json()[0]["seq"] == 0
        buckets = api.get("/elevators/L1/telemetry", params={
            "start": start, "end": t0 + 200_000, "bucket": "1m"}).json()
        assert sum(b["samples"] for b in buckets) == 120
        assert max(b["temp_max"] for b in buckets) == 159.0
        assert all(b["speed_max"] == 2.0 for b in buckets)
