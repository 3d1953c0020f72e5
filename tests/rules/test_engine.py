"""The engine as a whole: event time, out-of-order samples, restarts, what is open."""

from __future__ import annotations

import random

import pytest

from core.codec import Sample, Telemetry
from core.stream import Committed
from rules import Transition
from tests.rules.test_engine_helpers import (
    LANDINGS,
    T0_US,
    US,
    Car,
    batch,
    engine,
    feed,
    info,
    of,
    raised,
)


def _key(out: list[Transition]) -> list[tuple[str, str, int]]:
    return [(t.kind, t.action, t.at_us) for t in out]


def _busy_day() -> list[tuple[int, Sample]]:
    """A few minutes with a trapped passenger, a door fault and a power loss in them."""
    car = Car(pos=LANDINGS[0])
    for k in range(6):
        car.trip(k + 2, level_mm=1.0, accel=True)
    car.ride(5)
    car.pos = 13.7
    car.rest(45, occupied=True)
    car.pos = LANDINGS[5]
    car.stop(occupied=True)
    car.rest(70, door="closing")
    car.rest(2)
    car.rest(20, power="backup")
    car.rest(70, power="mains")
    return car.take()


# -- event time and replay ----------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_replay_in_any_batching_raises_the_same_alerts(size: int) -> None:
    samples = _busy_day()
    reference = feed(engine(), samples, size=1)
    assert {t.kind for t in raised(reference)} == {
        "trapped_passenger", "door_fault", "power_loss"}
    assert _key(feed(engine(), samples, size=size)) == _key(reference)


def test_samples_shuffled_inside_a_batch_are_evaluated_in_ts_order() -> None:
    samples = _busy_day()
    shuffled = samples[:]
    random.Random(3).shuffle(shuffled)
    e = engine()
    out = e.process(batch(shuffled))
    assert _key(out) == _key(feed(engine(), samples, size=len(samples)))


def test_several_elevators_in_one_batch_are_kept_apart() -> None:
    e = engine(info(1, "E1"), info(2, "E2"))
    a, b = Car(pk=1, eid="E1", pos=10.5), Car(pk=2, eid="E2", pos=LANDINGS[2])
    a.rest(40, occupied=True)
    b.rest(40, occupied=True, door="open")
    msgs = ([("E1", 1, Telemetry([s], [t])) for t, s in a.take()]
            + [("E2", 2, Telemetry([s], [t])) for t, s in b.take()])
    out = e.process(Committed(msgs, []))
    assert [(t.elevator_id, t.kind) for t in raised(out)] == [("E1", "trapped_passenger")]
    assert e.open_kinds(1) == {"trapped_passenger"} and e.open_kinds(2) == set()


def test_an_array_message_is_one_sequence() -> None:
    car = Car(pos=10.5)
    car.rest(35, occupied=True)
    samples = car.take()
    msg = Telemetry([s for _, s in samples], [t for t, _ in samples])
    out = engine().process(Committed([("E1", 1, msg)], []))
    assert raised(out, "trapped_passenger")[0].at_us == T0_US + 30 * US


# -- out of order -------------------------------------------------------------------------


def test_a_late_sample_still_raises_an_instantaneous_kind() -> None:
    e = engine()
    car = Car()
    car.rest(10)
    samples = car.take()
    late = [samples[4]]
    late = [(t, Sample(ts=s.ts, floor=0, speed_mps=2.6, door="closed", pos_m=1.0))
            for t, s in late]
    feed(e, samples[:4] + samples[5:], size=20)
    out = e.process(batch(late))
    hit = raised(out, "overspeed")
    assert len(hit) == 1 and hit[0].at_us == T0_US + 4 * US


def test_late_samples_never_advance_a_timer() -> None:
    e = engine()
    car = Car(pos=10.5)
    car.rest(60, occupied=True)
    samples = car.take()
    feed(e, samples[20:21])  # the sample at 20 s first ...
    out = feed(e, samples[:20] + samples[21:25], size=30)  # ... then older ones: late
    assert raised(out) == []
    out = feed(e, samples[25:])
    # 30 s from the first sample processed in order (20 s), not from the late one at 0 s
    assert raised(out, "trapped_passenger")[0].at_us == T0_US + 50 * US


def test_a_redelivered_sample_cannot_raise_again_after_a_clear() -> None:
    e = engine()
    car = Car()
    car.ride(10, speed=2.4)
    car.rest(25)
    samples = car.take()
    out = feed(e, samples)
    assert len(raised(out, "overspeed")) == 1 and len(of(out, "overspeed", "clear")) == 1
    again = e.process(batch(samples[:3]))  # QoS 1 redelivery
    assert again == []


def test_duplicates_inside_a_batch_are_dropped() -> None:
    e = engine()
    car = Car(pos=10.5)
    car.rest(31, occupied=True)
    samples = car.take()
    out = e.process(batch(samples + samples))
    assert len(raised(out, "trapped_passenger")) == 1
    assert e.dropped_samples == len(samples)


def test_samples_older_than_the_late_tolerance_are_ignored() -> None:
    e = engine()
    car = Car()
    car.rest(1)
    car.t_us += 700 * US
    car.rest(1)
    samples = car.take()
    feed(e, samples[1:])
    old = [(samples[0][0], Sample(ts=samples[0][1].ts, floor=0, speed_mps=3.0, door="open"))]
    assert e.process(batch(old)) == []
    assert e.dropped_samples == 1


# -- restart ------------------------------------------------------------------------------


def test_restart_mid_duration_keeps_the_clock() -> None:
    e = engine()
    car = Car(pos=10.5)
    car.rest(20, occupied=True)
    assert feed(e, car.take()) == []
    blobs = e.snapshot()
    e2 = engine()
    e2.restore(blobs)
    car.t_us += 15 * US  # the deploy took 15 s; the broker had kept nothing meanwhile
    car.rest(20, occupied=True)
    out = raised(feed(e2, car.take()), "trapped_passenger")
    assert len(out) == 1
    assert out[0].details["trapped_since_us"] == T0_US
    assert out[0].at_us == T0_US + 35 * US  # the first sample after the restart


def test_restored_open_alerts_are_not_raised_twice_and_still_clear() -> None:
    e = engine()
    car = Car(pos=LANDINGS[4])
    car.rest(35, occupied=True)
    feed(e, car.take())
    e2 = engine()
    e2.restore(e.snapshot())
    assert e2.open_kinds(1) == {"trapped_passenger"}
    car.rest(5, occupied=True)
    car.rest(2, occupied=True, door="opening")
    out = feed(e2, car.take())
    assert _key(out) == [("trapped_passenger", "clear", T0_US + 40 * US)]


def test_restore_before_the_elevator_is_known_waits_for_it() -> None:
    e = engine()
    car = Car(pos=10.5)
    car.rest(20, occupied=True)
    feed(e, car.take())
    e2 = engine(info(7, "E7"))
    e2.restore(e.snapshot())
    e2.set_elevators([info(1, "E1")])
    car.rest(11, occupied=True)
    assert len(raised(feed(e2, car.take()), "trapped_passenger")) == 1


def test_snapshot_of_dirty_elevators_only() -> None:
    e = engine(info(1, "E1"), info(2, "E2"))
    assert set(e.snapshot(only_dirty=True)) == {1, 2}  # new elevators are dirty
    assert e.snapshot(only_dirty=True) == {}
    car = Car(pk=2, eid="E2")
    car.rest(1)
    feed(e, car.take(), pk=2, eid="E2")
    assert set(e.snapshot(only_dirty=True)) == {2}
    assert set(e.snapshot()) == {1, 2}


def test_a_garbled_blob_starts_the_elevator_afresh() -> None:
    e = engine()
    e.restore({1: b"\x00garbage"})
    assert e.open_kinds(1) == set()


# -- what is open -------------------------------------------------------------------------


def test_sync_open_adopts_alerts_of_the_database_and_clears_them() -> None:
    e = engine()
    e.sync_open([(1, "power_loss"), (1, "inspection_overdue"), (99, "overrun")])
    assert e.open_kinds(1) == {"power_loss"}
    car = Car()
    car.rest(61, power="mains")
    out = feed(e, car.take())
    assert _key(out) == [("power_loss", "clear", T0_US + 60 * US)]


def test_a_manual_resolve_is_forgotten_and_raised_again_only_after_the_holdoff() -> None:
    e = engine()
    car = Car(pos=10.5)
    car.rest(31, occupied=True)
    feed(e, car.take())
    e.forget(1, "trapped_passenger")
    assert e.open_kinds(1) == set()
    car.rest(299, occupied=True)
    assert raised(feed(e, car.take(), size=50)) == []
    car.rest(2, occupied=True)
    again = raised(feed(e, car.take()), "trapped_passenger")
    assert len(again) == 1 and again[0].at_us == T0_US + 330 * US


def test_sync_open_without_a_kind_forgets_it() -> None:
    e = engine()
    car = Car(pos=10.5)
    car.rest(31, occupied=True)
    feed(e, car.take())
    e.sync_open([])
    assert e.open_kinds(1) == set()


def test_at_most_one_open_alert_per_kind() -> None:
    e = engine()
    car = Car()
    for _ in range(5):
        car.ride(10, speed=2.5)
        car.ride(0, speed=2.5)
    out = feed(e, car.take())
    assert len(raised(out, "overspeed")) == 1


def test_telemetry_of_an_unknown_elevator_is_counted_not_evaluated() -> None:
    e = engine()
    car = Car(pk=5, eid="E5", pos=10.5)
    car.rest(40, occupied=True)
    assert feed(e, car.take(), pk=5, eid="E5") == []
    assert e.unknown_pks == {5}


# -- modes --------------------------------------------------------------------------------

SUPPRESSED = {
    "inspection": {"trapped_passenger", "door_open_while_moving", "overspeed", "overrun",
                   "safety_circuit_open", "leveling_error", "door_fault",
                   "abnormal_vibration", "alarm_pressed", "door_closing_slow"},
    "maintenance": {"trapped_passenger", "door_open_while_moving", "overspeed", "overrun",
                    "safety_circuit_open", "leveling_error", "door_fault",
                    "abnormal_vibration", "alarm_pressed", "door_closing_slow"},
    "fire": {"door_fault", "abnormal_vibration", "door_closing_slow"},
    "out_of_service": {"abnormal_vibration"},
    "normal": set(),
}


@pytest.mark.parametrize("mode", sorted(SUPPRESSED))
def test_the_suppression_table(mode: str) -> None:
    e = engine()
    assert e.suppressed(e.elevators[0].pk, mode) == SUPPRESSED[mode]


def test_a_condition_that_began_in_inspection_counts_from_the_return_to_normal() -> None:
    car = Car(pos=10.5)
    car.rest(40, occupied=True, mode="inspection")
    car.rest(31, occupied=True, mode="normal")
    out = raised(feed(engine(), car.take()), "trapped_passenger")
    assert out[0].at_us == T0_US + 70 * US


# -- configuration ------------------------------------------------------------------------


def test_reload_changes_thresholds_and_keeps_open_alerts() -> None:
    from rules import thresholds as config

    e = engine()
    car = Car(pos=10.5)
    car.rest(31, occupied=True)
    feed(e, car.take())
    e.reload(config.loads("[rules.overspeed]\nfactor = 1.3\n", "new.toml"))
    assert e.open_kinds(1) == {"trapped_passenger"}
    car.pos = LANDINGS[0]
    car.ride(10, speed=2.5)  # 1.25 x rated: under the new 1.3
    assert raised(feed(e, car.take()), "overspeed") == []


def test_model_profiles_and_elevator_overrides_apply() -> None:
    rules = ('[models."FAST".overspeed]\nfactor = 1.5\n'
             '[elevators.E2.overspeed]\nfactor = 1.05\nseverity = "major"\n')
    e = engine(info(1, "E1", model="FAST"), info(2, "E2", model="FAST"), rules=rules)
    a, b = Car(pk=1, eid="E1"), Car(pk=2, eid="E2")
    a.ride(10, speed=2.5)
    b.ride(10, speed=2.2)
    assert raised(feed(e, a.take())) == []
    out = raised(feed(e, b.take(), pk=2, eid="E2"), "overspeed")
    assert len(out) == 1 and out[0].severity == "major"


def test_a_disabled_kind_is_never_raised() -> None:
    e = engine(rules="[rules.alarm_pressed]\nenabled = false\n")
    car = Car()
    car.rest(30, alarm=True, door="open")
    assert raised(feed(e, car.take())) == []


def test_every_transition_is_json_able_and_named() -> None:
    import json

    e = engine()
    out = feed(e, _busy_day(), size=13)
    out += e.tick(T0_US + 3600 * US)
    assert {t.action for t in out} == {"raise", "update", "clear"}
    for t in out:
        assert (t.elevator_id, t.elevator_pk) == ("E1", 1)
        json.dumps(t.details)
