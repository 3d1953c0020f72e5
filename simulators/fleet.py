"""The simulated fleet: configuration, registry, and the stream of messages in event time.

``Fleet(config).messages()`` yields one tick per sample period: ``(ts_ms, messages)``,
where every message is ``(topic_suffix, payload_bytes, retain)`` exactly as it would go on
the wire (bad messages and duplicate deliveries included). Each elevator samples once per
period at its own fixed offset inside the period, like unsynchronised real devices; the
payloads carry those exact times, the tick's ``ts_ms`` is the period's start.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from simulators import wire
from simulators.badmessages import BAD_MESSAGE_TYPES, bad_message
from simulators.buildings import MIXED, layout_fleet
from simulators.car import Car
from simulators.faults import FAULTS, Fault
from simulators.faultspec import FaultPlan, Scheduled, parse_faults
from simulators.groundtruth import Record
from simulators.group import Group
from simulators.state import FleetState
from simulators.traffic import Traffic
from simulators.vibration import ride_vibration, sense

Message = tuple[str, bytes, bool]
Tick = tuple[int, list[Message]]

FAULT_WINDOW_S = 3600.0  # rate-based faults are drawn one hour at a time
MOTOR_RISE_K = 35.0  # motor temperature rise over ambient when running all the time
STATIONARY_MPS = 0.05
DOOR_ZONE_M = 0.2


@dataclass(frozen=True)
class ActiveFault:
    """A fault attached to a car right now (public output, beside the wire and the
    ground-truth log): which car, its kind, when it was armed, whether its signature shows."""

    car: int
    elevator_id: str
    kind: str
    armed_at: float
    showing: bool


@dataclass
class FleetConfig:
    """Everything that defines a simulated fleet; the same config gives the same fleet."""

    elevators: int = 10
    rate_hz: float = 1.0
    seed: int = 0
    buildings: str = MIXED
    faults: FaultPlan | str | None = None
    start_ts_ms: int | None = None  # None: now
    duration_s: float | None = None  # None: messages() never ends
    batch: int = 1  # samples per telemetry message
    accel_hz: float = 100.0
    accel_idle: bool = False  # also send accel windows while the car is at rest
    id_prefix: str = "E"
    tz_offset_h: float = 0.0  # local time of the buildings, for the daily traffic pattern
    traffic_scale: float = 1.0
    drop_probability: float = 0.0005  # a sample lost now and then (never two in a row)
    noise: bool = True
    overdue_fraction: float = 0.0  # share of elevators registered with a past inspection date
    cooldown_s: float = 180.0  # quiet time on an elevator between two injected faults


class Fleet:
    """A fleet of simulated elevators; iterate :meth:`messages` to run it."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        if config.rate_hz <= 0 or config.rate_hz > 100:
            raise ValueError("rate_hz must be in (0, 100]")
        self.period_ms = round(1000.0 / config.rate_hz)
        self.period_s = self.period_ms / 1000.0
        self.window = max(1, round(config.accel_hz * self.period_s))
        self.accel_hz = self.window / self.period_s
        if config.batch < 1 or config.batch > 1000:
            raise ValueError("batch must be in 1..1000 samples per message")
        plan = config.faults
        self.plan = parse_faults(plan).plan if isinstance(plan, str | type(None)) else plan
        self.start_ms = (int(config.start_ts_ms) if config.start_ts_ms is not None
                         else int(time.time() * 1000))
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(7)]
        rng_layout, rng_cars, rng_traffic, self.rng_faults, self.rng_sensor, \
            self.rng_vib, rng_phys = streams
        start = datetime.fromtimestamp(self.start_ms / 1000, UTC)
        self.layout = layout_fleet(elevators=config.elevators, buildings=config.buildings,
                                   rng=rng_layout, id_prefix=config.id_prefix, start=start,
                                   overdue_fraction=config.overdue_fraction)
        specs = self.layout.elevators
        n = len(specs)
        self.ids = [e.id for e in specs]
        self.telemetry_topics = [wire.telemetry_topic(i) for i in self.ids]
        self.state_topics = [wire.state_topic(i) for i in self.ids]
        self.groups = [Group(g, t) for g, t in enumerate(self.layout.group_types)]
        positions = np.array([e.landings_m[e.lobby_index] for e in specs])
        self.ambient_base = 22.0 + rng_phys.uniform(-3.0, 3.0, n)
        self.state = FleetState(positions, self.ambient_base)
        self.cars = [Car(i, e, self.groups[e.group], self.state, rng_cars,
                         period_s=self.period_s) for i, e in enumerate(specs)]
        for car in self.cars:
            car.group.cars.append(car)
        self.traffic = Traffic(self.layout.group_types, rng_traffic, scale=config.traffic_scale)
        # per-car physics constants
        self.rated_speed = np.array([e.rated_speed_mps for e in specs])
        self.rated_load = np.array([e.rated_load_kg for e in specs])
        self.min_floor = np.array([e.min_floor for e in specs])
        self.vib_level = rng_phys.uniform(0.035, 0.06, n)
        self.vib_freq = rng_phys.uniform(8.0, 14.0, n)
        self.vib_phase = rng_phys.uniform(0.0, 2 * np.pi, n)
        self.motor_rise = MOTOR_RISE_K * rng_phys.uniform(0.85, 1.1, n)
        self.phase_ms = rng_phys.integers(0, self.period_ms, n)
        self.order = np.argsort(self.phase_ms, kind="stable")
        self._landing_sets: list[tuple[np.ndarray, np.ndarray]] = []
        for landings in sorted({e.landings_m for e in specs}):
            cars_of = np.array([i for i, e in enumerate(specs) if e.landings_m == landings])
            self._landing_sets.append((cars_of, np.asarray(landings)))
        # device state
        self.seq = np.full(n, -1, dtype=np.int64)
        self._dropped = np.zeros(n, dtype=bool)
        self._buffers: list[list[wire.Sample]] = [[] for _ in range(n)]
        self._bad: dict[int, list[str]] = {}
        self._dup: dict[int, int] = {}
        # faults
        self._pending: list[tuple[float, int, Scheduled]] = []
        self._pending_n = 0
        self._horizon = 0.0
        self.cooldown_until = np.zeros(n)
        self.ground_truth: list[Record] = []
        self.unrealised: list[dict[str, Any]] = []
        self.k = 0
        self.closed = False
        self._calendar_truth(start)

    # -- public -------------------------------------------------------------------------
    def registry(self) -> dict[str, list[dict[str, Any]]]:
        """Request bodies for POST /sites and /elevators (site_key maps to the site ids)."""
        return {"sites": [s.registry() for s in self.layout.sites],
                "elevators": [e.registry() for e in self.layout.elevators]}

    @property
    def now_ms(self) -> int:
        """Event time of the next tick's start."""
        return self.start_ms + self.k * self.period_ms

    def messages(self) -> Iterator[Tick]:
        """Ticks until the configured duration (forever without one)."""
        duration = self.config.duration_s
        while duration is None or self.k * self.period_s < duration - 1e-9:
            yield self.step()

    def step(self) -> Tick:
        """Advance the fleet by one sample period and return that period's messages."""
        t = self.k * self.period_s
        tick_ms = self.start_ms + self.k * self.period_ms
        msgs: list[Message] = []
        if self.k == 0:
            msgs.extend((self.state_topics[i], wire.state_payload("online", self.start_ms), True)
                        for i in range(len(self.cars)))
        self._inject(t)
        ts = t + self.phase_ms / 1000.0
        for _ in range(4):  # events may hand calls to cars already advanced: repeat
            due = np.flatnonzero(self.state.next_evt <= ts)
            if not len(due):
                break
            for i in due.tolist():
                self.cars[i].advance(float(ts[i]))
        self._state_messages(msgs)
        self._sample(t, ts, tick_ms, msgs)
        self.k += 1
        return tick_ms, msgs

    def active_faults(self) -> list[ActiveFault]:
        """The faults attached to cars now (see :class:`ActiveFault`)."""
        return [ActiveFault(car.i, self.ids[car.i], car.fault.kind, car.fault.armed_at,
                            car.fault.start is not None)
                for car in self.cars if car.fault is not None]

    def close(self) -> list[Record]:
        """End the run: record faults still active (truncated) and return the ground truth."""
        if self.closed:
            return self.ground_truth
        self.closed = True
        t = self.k * self.period_s
        for car in self.cars:
            fault = car.fault
            if fault is not None and fault.start is not None:
                fault.details["truncated"] = True
                fault.end = t if fault.end is None or fault.end > t else fault.end
                self.record(fault)
            elif fault is not None:
                self.unrealised.append({"elevator_id": self.ids[car.i], "kind": fault.kind,
                                        "injected_ms": self.ms(fault.armed_at)})
        return self.ground_truth

    def ms(self, t: float) -> int:
        """Epoch milliseconds of simulation time t (seconds)."""
        return self.start_ms + round(t * 1000.0)

    # -- faults -------------------------------------------------------------------------
    def record(self, fault: Fault) -> None:
        """Store a fault's ground-truth record (called by the fault when it ends)."""
        assert fault.start is not None
        end = fault.end if fault.end is not None else fault.start
        params: dict[str, Any] = {k: v for k, v in fault.params.items()}
        for key, value in fault.details.items():
            params[key] = self.ms(value) if key.endswith("_ms") else value
        params["injected_ms"] = self.ms(fault.armed_at)
        self.ground_truth.append({"elevator_id": self.ids[fault.car.i], "kind": fault.kind,
                                  "start_ms": self.ms(fault.start), "end_ms": self.ms(end),
                                  "params": params})
        self.cooldown_until[fault.car.i] = end + self.config.cooldown_s

    def _calendar_truth(self, start: datetime) -> None:
        for e in self.layout.elevators:
            if e.next_inspection_due and date.fromisoformat(e.next_inspection_due) < start.date():
                due = datetime.fromisoformat(e.next_inspection_due).replace(tzinfo=UTC)
                self.ground_truth.append({
                    "elevator_id": e.id, "kind": "inspection_overdue",
                    "start_ms": int(due.timestamp() * 1000), "end_ms": None,
                    "params": {"next_inspection_due": e.next_inspection_due}})

    def _push(self, item: Scheduled) -> None:
        heapq.heappush(self._pending, (item.t, self._pending_n, item))
        self._pending_n += 1

    def _inject(self, t: float) -> None:
        """Hand out the traffic and the faults due before t, in time order."""
        t_end = t + self.period_s
        while self.plan and self._horizon < t_end:
            for item in self.plan.draw(self._horizon, self._horizon + FAULT_WINDOW_S,
                                       self.ids, self.rng_faults):
                self._push(item)
            self._horizon += FAULT_WINDOW_S
        trips = []
        if self.k > 0:
            hour, weekday = self._local_time(t)
            trips = self.traffic.draw(t - self.period_s, t, hour=hour, weekday=weekday)
        n = 0
        while True:
            next_fault = self._pending[0][0] if self._pending else math.inf
            next_trip = trips[n].t if n < len(trips) else math.inf
            if min(next_fault, next_trip) >= t:
                break
            if next_trip <= next_fault:
                trip = trips[n]
                n += 1
                self.groups[trip.group].arrive(trip.t, trip.origin, trip.dest, trip.weight_kg)
            else:
                _, _, item = heapq.heappop(self._pending)
                self._arm(item)

    def _arm(self, item: Scheduled) -> None:
        car = self.cars[item.car]
        if item.kind == "bad_message":
            kind = str(item.params.get("type", "random"))
            if kind == "random":
                kind = BAD_MESSAGE_TYPES[int(self.rng_faults.integers(len(BAD_MESSAGE_TYPES)))]
            self._bad.setdefault(item.car, []).append(kind)
            return
        if item.kind == "duplicate":
            self._dup[item.car] = max(1, int(item.params.get("copies", "1")))
            return
        # never earlier than the car's last sample: what was sent cannot be undone
        last_sample = (self.k - 1) * self.period_s + self.phase_ms[item.car] / 1000.0
        t = max(item.t, car.now, last_sample + 0.001)
        if car.fault is not None or t < self.cooldown_until[item.car]:
            # one fault at a time per elevator, with quiet time between them
            later = max(t + 30.0, float(self.cooldown_until[item.car]))
            self._push(Scheduled(later, item.kind, item.car, item.params))
            return
        car.advance(t)
        fault = FAULTS[item.kind](car, dict(item.params), self, self.rng_faults)
        fault.attach(t)

    # -- sampling -----------------------------------------------------------------------
    def _local_time(self, t: float) -> tuple[float, int]:
        hours = (self.start_ms / 1000.0 + t) / 3600.0 + self.config.tz_offset_h
        return hours % 24.0, int((hours // 24 + 3) % 7)  # 1970-01-01 was a Thursday

    def _state_messages(self, msgs: list[Message]) -> None:
        events = self.state.state_events
        if not events:
            return
        for t, i, state in sorted(events):
            if state == "offline":
                self._flush(i, msgs)
            if state == "online" and i in self.state.reboots:
                self.state.reboots.discard(i)
                self.seq[i] = -1
            msgs.append((self.state_topics[i], wire.state_payload(state, self.ms(t)), True))
        events.clear()

    def _flush(self, i: int, msgs: list[Message]) -> None:
        buf = self._buffers[i]
        if buf:
            msgs.append((self.telemetry_topics[i], wire.encode(buf), False))
            self._buffers[i] = []

    def _sample(self, t: float, ts: np.ndarray, tick_ms: int, msgs: list[Message]) -> None:
        s, cfg = self.state, self.config
        n = len(self.cars)
        everyone = np.arange(n)
        pos, vel, _ = (x[:, 0] for x in s.motion.evaluate(everyone, ts[:, None]))
        idx = np.zeros(n, dtype=np.int64)
        level_m = np.zeros(n)
        for cars_of, landings in self._landing_sets:
            p = pos[cars_of]
            j = np.clip(np.searchsorted(landings, p), 1, len(landings) - 1)
            lower = np.abs(p - landings[j - 1]) <= np.abs(p - landings[j])
            j = np.where(lower, j - 1, j)
            idx[cars_of] = j
            level_m[cars_of] = p - landings[j]
        moving = np.abs(vel) > STATIONARY_MPS
        has_level = (np.abs(vel) < 1e-3) & (np.abs(level_m) <= DOOR_ZONE_M)
        # motor: first-order thermal model, heating while the car runs
        hour, _ = self._local_time(t)
        s.ambient = self.ambient_base + 4.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        target = (s.ambient + s.heat_extra + moving * self.motor_rise
                  * (0.6 + 0.4 * s.load / self.rated_load))
        s.temp += (target - s.temp) * (1.0 - np.exp(-self.period_s / s.tau))
        rs = self.rng_sensor
        if cfg.noise:
            pos_r = pos + rs.normal(0.0, 0.0005, n)
            speed_r = vel + np.clip(rs.normal(0.0, 0.003, n), -0.01, 0.01)
            level_r = level_m * 1000.0 + rs.normal(0.0, 0.4, n)
            load_r = np.maximum(0.0, s.load + rs.normal(0.0, 2.5, n) * (s.load > 0))
            temp_r = s.temp + rs.normal(0.0, 0.15, n)
        else:
            pos_r, speed_r, level_r = pos, vel, level_m * 1000.0
            load_r, temp_r = s.load, s.temp
        # accel windows for the cars that moved during the period
        if cfg.accel_idle:
            mv = everyone
        else:
            in_window = (s.motion.move_start < ts) & (s.motion.move_end > ts - self.period_s)
            mv = np.flatnonzero(in_window)
        accel: dict[int, list[float]] = {}
        if len(mv):
            offsets = (np.arange(self.window) + 1 - self.window) / self.accel_hz
            times = ts[mv][:, None] + offsets[None, :]
            wpos, wvel, wacc = s.motion.evaluate(mv, times)
            vib = ride_vibration(times=times, speed=wvel, pos=wpos,
                                 level=self.vib_level[mv] * s.wear[mv], freq=self.vib_freq[mv],
                                 phase=self.vib_phase[mv], rng=self.rng_vib)
            z = np.round(sense(wacc + vib, self.rng_sensor, noise=cfg.noise), 3).tolist()
            accel = dict(zip(mv.tolist(), z, strict=True))
        online = s.online
        self.seq += online
        drop = (self.rng_sensor.random(n) < cfg.drop_probability) & ~self._dropped
        self._dropped = drop
        ts_ms = (tick_ms + self.phase_ms).tolist()
        seq = self.seq.tolist()
        floor = (self.min_floor + idx).tolist()
        pos_l = np.round(pos_r, 3).tolist()
        speed_l = np.round(speed_r, 3).tolist()
        level_l = np.round(level_r, 1).tolist()
        has_level_l = has_level.tolist()
        load_l = np.round(load_r, 1).tolist()
        occ = (s.npass > 0).tolist()
        temp_l = np.round(temp_r, 1).tolist()
        door = s.door.tolist()
        lock = s.lock.tolist()
        safety = s.safety.tolist()
        alarm = s.alarm.tolist()
        power = s.power.tolist()
        mode = s.mode.tolist()
        codes = s.fault_code
        send = (online & ~drop).tolist()
        batch = cfg.batch
        doors, powers, modes = wire.DOOR_NAMES, wire.POWER_NAMES, wire.MODE_NAMES
        hz = self.accel_hz
        for i in self.order.tolist():
            if not send[i]:
                continue
            z = accel.get(i)
            sample = wire.Sample(
                ts=ts_ms[i], seq=seq[i], floor=floor[i], pos_m=pos_l[i], speed_mps=speed_l[i],
                door=doors[door[i]], door_lock=lock[i], safety_chain=safety[i],
                level_mm=level_l[i] if has_level_l[i] else None, load_kg=load_l[i],
                occupied=occ[i], alarm=alarm[i], motor_temp_c=temp_l[i], power=powers[power[i]],
                mode=modes[mode[i]], fault=codes.get(i),
                accel=wire.Accel(hz, z) if z is not None else None)
            if batch == 1:
                msg = (self.telemetry_topics[i], wire.encode(sample), False)
                msgs.append(msg)
            else:
                buf = self._buffers[i]
                buf.append(sample)
                if len(buf) < batch and (self.k + i) % batch != batch - 1:
                    continue
                msg = (self.telemetry_topics[i], wire.encode(buf), False)
                msgs.append(msg)
                self._buffers[i] = []
            if i in self._dup:
                copies = self._dup.pop(i)
                msgs.extend([msg] * copies)
                self.ground_truth.append({
                    "elevator_id": self.ids[i], "kind": "duplicate", "start_ms": sample.ts,
                    "end_ms": sample.ts, "params": {"copies": copies, "seq": sample.seq}})
            if i in self._bad:
                for kind in self._bad.pop(i):
                    topic, payload = bad_message(kind, sample, self.ids[i],
                                                 unregistered_id=f"{self.ids[i]}-ghost")
                    msgs.append((topic, payload, False))
                    self.ground_truth.append({
                        "elevator_id": self.ids[i], "kind": "bad_message",
                        "start_ms": sample.ts, "end_ms": sample.ts,
                        "params": {"type": kind, "topic": topic, "bytes": len(payload)}})
