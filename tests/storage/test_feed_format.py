"""The rules feed's body formats: samples as columns (a batch whose samples were all new),
as arrays of their fields (otherwise), and bodies written before that (samples as maps)
still read; all three decode to the same messages."""

from __future__ import annotations

import json
import time

import msgspec

from core.accept import WireDecoder
from core.codec import Sample
from core.partitions import partition_of
from core.stream import Committed
from storage import feed
from storage.copybuf import Batch, encode
from tests.builders import sample

NOW_MS = int(time.time() * 1000)


def _committed() -> Committed:
    """Messages of several elevators (absent fields, a fault text, an accel window, a
    1-sample and a many-sample message) and a connection state."""
    decoder = WireDecoder()
    payloads = [
        ("lift/el-1/telemetry", [sample(NOW_MS - 2000, 1), sample(NOW_MS - 1000, 2)]),
        ("lift/el-2/telemetry", sample(NOW_MS, fault="E31", accel={"hz": 50, "z": [0.1, -0.2]})),
        ("lift/el-3/telemetry", {"ts": NOW_MS, "floor": 0, "speed_mps": 0.0, "door": "open"}),
    ]
    messages = []
    for pk, (topic, body) in enumerate(payloads, start=1):
        got = decoder.decode(topic, json.dumps(body).encode(), NOW_MS * 1000)
        assert got.telemetry is not None, got.reject
        messages.append((f"el-{pk}", pk * 7, got.telemetry))
    return Committed(messages, [("el-1", 7, "online", NOW_MS * 1000)])


def _fields(committed: Committed, *, wire_ts: bool = True) -> list[tuple[object, ...]]:
    """Every sample's fields (the wire's own ts left out when columns do not carry it)."""
    return sorted((eid, pk, ts, msgspec.structs.astuple(s)[0 if wire_ts else 1:])
                  for eid, pk, tel in committed.messages
                  for ts, s in zip(tel.ts_us, tel.samples, strict=True))


def _columns(committed: Committed) -> dict[int, bytes]:
    batch = Batch()
    for _eid, pk, tel in committed.messages:
        batch.add(pk, tel)
    return feed.split(committed, encode(batch))


def test_columns_read_back_field_for_field_with_absent_fields_faults_and_accel() -> None:
    committed = _committed()
    parts = _columns(committed)
    assert set(parts) == {partition_of(pk) for _e, pk, _t in committed.messages}
    got = feed.decode(parts.values())
    assert _fields(got, wire_ts=False) == _fields(committed, wire_ts=False)
    assert [s.ts for _e, _p, tel in got.messages for s in tel.samples] == [
        t // 1000 for _e, _p, tel in got.messages for t in tel.ts_us]
    assert got.states == committed.states
    assert all(isinstance(s, Sample) for _e, _p, tel in got.messages for s in tel.samples)
    faults = [s.fault for _e, _p, tel in got.messages for s in tel.samples]
    assert faults.count("E31") == 1 and faults.count(None) == len(faults) - 1
    accels = [s.accel for _e, _p, tel in got.messages for s in tel.samples if s.accel]
    assert len(accels) == 1 and accels[0].z == [0.1, -0.2]


def test_columns_of_a_plain_batch_are_smaller_than_arrays() -> None:
    now = NOW_MS - 600_000
    decoder = WireDecoder()
    messages = []
    for pk in range(1, 41):
        body = json.dumps([sample(now + i * 1000, i, speed_mps=0.1 * i) for i in range(50)])
        got = decoder.decode(f"lift/el-{pk}/telemetry", body.encode(), NOW_MS * 1000)
        assert got.telemetry is not None, got.reject
        messages.append((f"el-{pk}", pk, got.telemetry))
    committed = Committed(messages, [])
    columns = _columns(committed)
    arrays = feed.split(committed)
    assert sum(map(len, columns.values())) < 0.8 * sum(map(len, arrays.values()))
    assert _fields(feed.decode(columns.values()), wire_ts=False) == _fields(
        committed, wire_ts=False)


def test_parts_of_every_format_in_one_read_keep_every_message() -> None:
    committed = _committed()
    old = msgspec.msgpack.encode(feed._MapBody(committed.messages, committed.states))
    bodies = [*_columns(committed).values(), old, *feed.split(committed).values(),
              *_columns(committed).values()]
    got = feed.decode(bodies)
    assert _fields(got, wire_ts=False) == sorted(_fields(committed, wire_ts=False) * 4)
    assert got.states == committed.states * 4


def test_a_batch_reads_back_field_for_field_and_in_each_partition() -> None:
    committed = _committed()
    parts = feed.split(committed)
    assert set(parts) == {partition_of(pk) for _e, pk, _t in committed.messages}
    got = feed.decode(parts.values())
    assert _fields(got) == _fields(committed)
    assert got.states == committed.states
    assert all(isinstance(s, Sample) for _e, _p, tel in got.messages for s in tel.samples)
    for p, body in parts.items():  # a partition's part holds its own elevators only
        assert {pk for _e, pk, _t in feed.decode([body]).messages} == {
            pk for _e, pk, _t in committed.messages if partition_of(pk) == p}


def test_samples_travel_as_arrays_at_under_half_the_bytes_of_maps() -> None:
    committed = _committed()
    arrays = sum(map(len, feed.split(committed).values()))
    maps = len(msgspec.msgpack.encode(feed._MapBody(committed.messages, committed.states)))
    assert arrays < maps / 2


def test_a_body_written_with_samples_as_maps_is_still_read() -> None:
    committed = _committed()
    old = msgspec.msgpack.encode(feed._MapBody(committed.messages, committed.states))
    assert old[:1] == feed.split(Committed(committed.messages[:1], []))[
        partition_of(7)][:1]  # the same outer array: only the samples differ
    got = feed.decode([old, *feed.split(committed).values()])
    assert _fields(got) == sorted(_fields(committed) * 2)
    assert got.states == committed.states * 2
