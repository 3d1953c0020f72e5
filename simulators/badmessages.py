"""Messages a buggy or hostile device might send, each refused by the contract's checks."""

from __future__ import annotations

import msgspec

from simulators import wire

MAX_PAYLOAD_BYTES = 256 * 1024  # the contract's limit; oversized messages exceed it

BAD_MESSAGE_TYPES = ("malformed", "not_utf8", "wrong_type", "missing_field", "out_of_range",
                     "bad_enum", "future_ts", "oversized", "unregistered")


def _sample_dict(sample: wire.Sample) -> dict[str, object]:
    return msgspec.to_builtins(sample)  # type: ignore[no-any-return]


def bad_message(kind: str, sample: wire.Sample, elevator_id: str, *, unregistered_id: str
                ) -> tuple[str, bytes]:
    """(topic suffix, payload) of one bad message of the given type, based on a sample."""
    body = _sample_dict(sample)
    topic = wire.telemetry_topic(elevator_id)
    if kind == "malformed":
        text = wire.encode(sample)
        return topic, text[: max(10, len(text) // 2)]  # cut off mid-message
    if kind == "not_utf8":
        return topic, b'{"ts": ' + str(sample.ts).encode() + b', "door": "\xff\xfe"}'
    if kind == "wrong_type":
        body["speed_mps"] = "fast"
    elif kind == "missing_field":
        del body["door"]
    elif kind == "out_of_range":
        body["speed_mps"] = 42.0
    elif kind == "bad_enum":
        body["door"] = "ajar"
    elif kind == "future_ts":
        body["ts"] = sample.ts + 15 * 60 * 1000
    elif kind == "oversized":
        hz = 100
        body["accel"] = {"hz": hz, "z": [0.001] * (MAX_PAYLOAD_BYTES // 5)}
    elif kind == "unregistered":
        topic = wire.telemetry_topic(unregistered_id)
    else:
        raise ValueError(f"unknown bad message type {kind!r}; use one of {BAD_MESSAGE_TYPES}")
    return topic, wire.encode(body)
