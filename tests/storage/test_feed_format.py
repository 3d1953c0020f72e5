"""The rules feed's body format: samples as arrays of their fields, and bodies written
before that (samples as maps) still read."""

from __future__ import annotations

import json
import time

import msgspec

from core.accept import WireDecoder
from core.codec import Sample
from core.partitions import partition_of
from core.stream import Committed
from storage import feed
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


def _fields(committed: Committed) -> list[tuple[object, ...]]:
    return sorted((eid, pk, ts, msgspec.structs.astuple(s))
                  for eid, pk, tel in committed.messages
                  for ts, s in zip(tel.ts_us, tel.samples, strict=True))


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
