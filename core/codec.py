"""Wire format of CONTRACT section 1: decode and validate telemetry and state payloads.

One msgspec schema validates types and fixed ranges in C; every refusal becomes a
:class:`Reject` with a stable ``reason`` code (counted in metrics) and a ``detail`` that
names the field and, for arrays, the sample. Checks that need the registry (load and
position ranges) run in :func:`check_limits`.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from core.domain import ELEVATOR_ID, ElevatorLimits

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_STATE_BYTES = 1024  # {"state": "online", "ts": ...} needs well under 100
MAX_SAMPLES = 1000
FUTURE_TOLERANCE_S = 300.0
EARLIEST_TS_US = 946_684_800_000_000  # 2000-01-01: anything older is a clock fault
REJECT_PAYLOAD_BYTES = 4096


class RejectReason:
    """The reason codes of rejected messages (label values of the reject metric)."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    OUT_OF_RANGE = "out_of_range"
    TS_IN_FUTURE = "ts_in_future"
    UNREGISTERED_ELEVATOR = "unregistered_elevator"
    TOO_LARGE = "too_large"
    TOO_MANY_SAMPLES = "too_many_samples"
    EMPTY = "empty"
    BAD_TOPIC = "bad_topic"
    DECOMMISSIONED = "decommissioned"

    ALL = (NOT_UTF8, NOT_JSON, MISSING_FIELD, WRONG_TYPE, INVALID_VALUE, OUT_OF_RANGE,
           TS_IN_FUTURE, UNREGISTERED_ELEVATOR, TOO_LARGE, TOO_MANY_SAMPLES, EMPTY, BAD_TOPIC,
           DECOMMISSIONED)


@dataclass
class Reject(Exception):
    """Why a message was refused: a reason code and a sentence naming what was wrong."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


Door = Literal["closed", "opening", "open", "closing"]
Power = Literal["mains", "backup", "none"]
Mode = Literal["normal", "inspection", "maintenance", "fire", "out_of_service"]


class Accel(Struct, kw_only=True, gc=False):
    """Vertical car acceleration since the last sample, gravity removed, m/s^2."""

    hz: Annotated[float, Meta(gt=0, le=100_000)]
    z: list[Annotated[float, Meta(ge=-1000, le=1000)]]


class Sample(Struct, kw_only=True, gc=False):
    """One telemetry sample as sent by a device (unknown fields are ignored)."""

    ts: int | datetime
    floor: Annotated[int, Meta(ge=-1000, le=1000)]
    speed_mps: Annotated[float, Meta(ge=-20, le=20)]
    door: Door
    seq: Annotated[int, Meta(ge=0, le=2**63 - 1)] | None = None
    pos_m: Annotated[float, Meta(ge=-10_000, le=10_000)] | None = None
    door_lock: bool | None = None
    safety_chain: bool | None = None
    level_mm: Annotated[float, Meta(ge=-1000, le=1000)] | None = None
    load_kg: Annotated[float, Meta(ge=0)] | None = None
    occupied: bool | None = None
    alarm: bool | None = None
    motor_temp_c: Annotated[float, Meta(ge=-50, le=300)] | None = None
    power: Power | None = None
    mode: Mode | None = None
    fault: str | None = None
    accel: Accel | None = None


class StateMessage(Struct, kw_only=True, gc=False):
    """Payload of lift/{id}/state."""

    state: Literal["online", "offline"]
    ts: int | datetime


@dataclass(slots=True)
class Telemetry:
    """A decoded telemetry message: its samples and each sample's time in epoch microseconds."""

    samples: list[Sample]
    ts_us: list[int]


_MISSING = re.compile(r"Object missing required field `([^`]+)`(?: - at `([^`]+)`)?")
_AT = re.compile(r" - at `([^`]+)`$")
_TOO_MANY = re.compile(r"Expected `array` of length <= (\d+)")
_BOUND = re.compile(r"Expected `[^`]+` ([<>]=? \S+)")
_WRONG_TYPE = re.compile(r"Expected `([^`]+)`, got `([^`]+)`")


def _where(path: str | None, is_array: bool) -> tuple[str, str]:
    """('floor', ' in sample 3') from '$[3].floor'."""
    if not path or path == "$":
        return "", ""
    m = re.match(r"\$\[(\d+)\]\.?(.*)", path)
    if m:
        return m.group(2), f" in sample {m.group(1)}"
    return path.removeprefix("$."), ""


def _explain(err: msgspec.ValidationError, is_array: bool) -> Reject:
    """Turn msgspec's message into a reason code and a sentence."""
    msg = str(err)
    if m := _MISSING.match(msg):
        where = _where(m.group(2), is_array)[1] if m.group(2) else ""
        parent = _where(m.group(2), is_array)[0] if m.group(2) else ""
        field = f"{parent}.{m.group(1)}" if parent else m.group(1)
        return Reject(RejectReason.MISSING_FIELD, f"missing field {field}{where}")
    at = _AT.search(msg)
    field, where = _where(at.group(1) if at else None, is_array)
    body = msg[: at.start()] if at else msg
    if m := _TOO_MANY.match(body):
        return Reject(RejectReason.TOO_MANY_SAMPLES,
                      f"an array carries at most {m.group(1)} samples")
    if m := _BOUND.match(body):
        return Reject(RejectReason.OUT_OF_RANGE,
                      f"field {field} out of range{where}: must be {m.group(1)}")
    if body.startswith("Number out of range"):
        return Reject(RejectReason.OUT_OF_RANGE, f"field {field} out of range{where}")
    if body.startswith("Invalid enum value"):
        return Reject(RejectReason.INVALID_VALUE, f"field {field} has an {body[0].lower()}"
                      f"{body[1:]}{where}")
    if body.startswith("Invalid RFC3339"):
        return Reject(RejectReason.INVALID_VALUE,
                      f"field {field} is neither epoch milliseconds nor an RFC 3339 time{where}")
    if m := _WRONG_TYPE.match(body):
        if not field:
            return Reject(RejectReason.WRONG_TYPE,
                          f"payload must be a sample object or an array of samples, "
                          f"got {m.group(2)}")
        return Reject(RejectReason.WRONG_TYPE,
                      f"field {field} has the wrong type{where}: expected {m.group(1)}, "
                      f"got {m.group(2)}")
    return Reject(RejectReason.INVALID_VALUE, f"{body}{(' at ' + field) if field else ''}{where}")


def _check_utf8(payload: bytes) -> None:
    """Reject a payload that is not UTF-8 (ASCII, the usual case, needs no decoding copy)."""
    if payload.isascii():
        return
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Reject(RejectReason.NOT_UTF8,
                     f"payload is not UTF-8: invalid byte at offset {exc.start}") from None


def _ts_us(ts: int | datetime, label: str) -> int:
    if isinstance(ts, int):
        return ts * 1000
    if ts.tzinfo is None:
        raise Reject(RejectReason.INVALID_VALUE,
                     f"field ts has no UTC offset{label}: RFC 3339 times need Z or +hh:mm")
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond


class TelemetryDecoder:
    """Decode and validate telemetry payloads; reusable, thread-safe for decoding."""

    def __init__(self, *, max_bytes: int = MAX_PAYLOAD_BYTES, max_samples: int = MAX_SAMPLES,
                 future_tolerance_s: float = FUTURE_TOLERANCE_S) -> None:
        self.max_bytes = max_bytes
        self.max_samples = max_samples
        self.future_us = int(future_tolerance_s * 1_000_000)
        self._decoder = msgspec.json.Decoder(
            Sample | Annotated[list[Sample], Meta(max_length=max_samples)])

    def decode(self, payload: bytes, now_us: int) -> Telemetry:
        """The samples of one message, or raise Reject saying why the message is refused."""
        if len(payload) > self.max_bytes:
            raise Reject(RejectReason.TOO_LARGE,
                         f"message is {len(payload)} bytes; at most {self.max_bytes} allowed")
        _check_utf8(payload)
        try:
            decoded = self._decoder.decode(payload)
        except msgspec.ValidationError as exc:
            raise _explain(exc, payload.lstrip()[:1] == b"[") from None
        except msgspec.DecodeError as exc:
            raise Reject(RejectReason.NOT_JSON, f"payload is not JSON: {exc}") from None
        samples = decoded if isinstance(decoded, list) else [decoded]
        if not samples:
            raise Reject(RejectReason.EMPTY, "the array carries no samples")
        # epoch milliseconds within bounds, the usual case: no loop in Python
        latest = now_us + self.future_us
        if len(samples) == 1:
            t = samples[0].ts
            if type(t) is int and EARLIEST_TS_US <= t * 1000 <= latest:
                return Telemetry(samples, [t * 1000])
        else:
            wire = list(map(_TS, samples))
            if set(map(type, wire)) == _INT_ONLY:
                ts_us = [t * 1000 for t in wire]
                if min(ts_us) >= EARLIEST_TS_US and max(ts_us) <= latest:
                    return Telemetry(samples, ts_us)
        # RFC 3339 times, or a time out of bounds: sample by sample, to say which
        ts_us = []
        many = len(samples) > 1 or isinstance(decoded, list)
        for i, s in enumerate(samples):
            label = f" in sample {i}" if many else ""
            t = _ts_us(s.ts, label)
            check_time(t, now_us, self.future_us, label)
            ts_us.append(t)
        return Telemetry(samples, ts_us)

    def decode_state(self, payload: bytes, now_us: int) -> tuple[str, int]:
        """(state, ts in epoch microseconds) of a state message, or raise Reject: checked
        like a sample (size, time bounds), so a forged state is refused with its reason."""
        if len(payload) > MAX_STATE_BYTES:
            raise Reject(RejectReason.TOO_LARGE, f"state message is {len(payload)} bytes; "
                         f"at most {MAX_STATE_BYTES} allowed")
        state, t = decode_state(payload)
        check_time(t, now_us, self.future_us, "")
        return state, t


def check_time(t: int, now_us: int, future_us: int, label: str) -> None:
    """Refuse a time too far in the future or before 2000 (raise Reject)."""
    if t > now_us + future_us:
        raise Reject(RejectReason.TS_IN_FUTURE,
                     f"ts is {(t - now_us) / 1e6:.0f} s in the future{label}; "
                     f"at most {future_us // 1_000_000} s allowed")
    if t < EARLIEST_TS_US:
        raise Reject(RejectReason.OUT_OF_RANGE, f"field ts out of range{label}: before 2000-01-01")


_TS = operator.attrgetter("ts")
_INT_ONLY = {int}
_LOAD = operator.attrgetter("load_kg")
_POS = operator.attrgetter("pos_m")


def check_limits(msg: Telemetry, limits: ElevatorLimits) -> None:
    """Range checks that depend on the elevator: load and position (raise Reject)."""
    max_load = 5 * limits.rated_load_kg
    low, high = -10.0, limits.travel_m + 10.0
    loads = [x for x in map(_LOAD, msg.samples) if x is not None]
    positions = [x for x in map(_POS, msg.samples) if x is not None]
    if (not loads or max(loads) <= max_load) and (
            not positions or (low <= min(positions) and max(positions) <= high)):
        return  # the usual case, without a loop in Python; else say which sample
    many = len(msg.samples) > 1
    for i, s in enumerate(msg.samples):
        if s.load_kg is not None and s.load_kg > max_load:
            raise Reject(RejectReason.OUT_OF_RANGE,
                         f"field load_kg out of range{f' in sample {i}' if many else ''}: "
                         f"{s.load_kg:g} kg is over 5 x the rated load ({max_load:g} kg)")
        if s.pos_m is not None and not low <= s.pos_m <= high:
            raise Reject(RejectReason.OUT_OF_RANGE,
                         f"field pos_m out of range{f' in sample {i}' if many else ''}: "
                         f"{s.pos_m:g} m is more than 10 m outside the shaft "
                         f"(0..{limits.travel_m:g} m)")


def vibration(accel: Accel) -> tuple[float, float]:
    """(RMS about the window's mean, peak-to-peak) of an accel window, m/s^2."""
    z = accel.z
    n = len(z)
    if n == 0:
        return 0.0, 0.0
    mean = sum(z) / n
    rms = math.sqrt(sum((v - mean) * (v - mean) for v in z) / n)
    return rms, max(z) - min(z)


_STATE = msgspec.json.Decoder(StateMessage)


def decode_state(payload: bytes) -> tuple[str, int]:
    """(state, ts in epoch microseconds) of a state message, or raise Reject."""
    _check_utf8(payload)
    try:
        msg = _STATE.decode(payload)
    except msgspec.ValidationError as exc:
        raise _explain(exc, False) from None
    except msgspec.DecodeError as exc:
        raise Reject(RejectReason.NOT_JSON, f"payload is not JSON: {exc}") from None
    return msg.state, _ts_us(msg.ts, "")


TOPIC = re.compile(r"lift/([^/]+)/(telemetry|state)")


def parse_topic(topic: str, prefix: str = "") -> tuple[str, str]:
    """(elevator_id, 'telemetry'|'state') of a topic, or raise Reject (bad_topic)."""
    m = TOPIC.fullmatch(topic[len(prefix):]) if topic.startswith(prefix) else None
    if not m:
        raise Reject(RejectReason.BAD_TOPIC, f"topic {topic!r} is not lift/{{id}}/telemetry")
    if not ELEVATOR_ID.fullmatch(m.group(1)):
        raise Reject(RejectReason.BAD_TOPIC,
                     f"elevator id {m.group(1)!r} does not match [A-Za-z0-9_-]{{1,64}}")
    return m.group(1), m.group(2)
