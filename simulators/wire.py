"""What the simulated devices put on the wire (CONTRACT section 1), and nothing else."""

from __future__ import annotations

import msgspec

DOOR_NAMES = ("closed", "opening", "open", "closing")
POWER_NAMES = ("mains", "backup", "none")
MODE_NAMES = ("normal", "inspection", "maintenance", "fire", "out_of_service")


class Accel(msgspec.Struct, gc=False):
    """Vertical car acceleration since the previous sample, gravity removed, m/s^2."""

    hz: float
    z: list[float]


class Sample(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One telemetry sample; optional fields left at None are not sent."""

    ts: int
    seq: int
    floor: int
    pos_m: float
    speed_mps: float
    door: str
    door_lock: bool
    safety_chain: bool
    level_mm: float | None = None
    load_kg: float
    occupied: bool
    alarm: bool
    motor_temp_c: float
    power: str
    mode: str
    fault: str | None = None
    accel: Accel | None = None


class State(msgspec.Struct, gc=False):
    """Payload of lift/{id}/state."""

    state: str
    ts: int


_encoder = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    """JSON bytes of a sample, a list of samples or a state message."""
    return _encoder.encode(value)


def state_payload(state: str, ts_ms: int) -> bytes:
    """The payload of a state message, e.g. a device's last will."""
    return _encoder.encode(State(state, ts_ms))


def telemetry_topic(elevator_id: str) -> str:
    """Topic suffix of an elevator's telemetry."""
    return f"lift/{elevator_id}/telemetry"


def state_topic(elevator_id: str) -> str:
    """Topic suffix of an elevator's retained online/offline state."""
    return f"lift/{elevator_id}/state"
