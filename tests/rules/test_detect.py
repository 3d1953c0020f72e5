"""Every alert kind of CONTRACT section 2: it is raised, its near miss is not, it clears."""

from __future__ import annotations

import itertools

import pytest

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

# -- trapped_passenger --------------------------------------------------------------------


def test_trapped_between_floors_raised_after_30_s_and_says_where() -> None:
    car = Car(pos=10.5)  # 1.5 m from the landings at 9 and 12 m
    car.rest(40, occupied=True)
    out = raised(feed(engine(), car.take()), "trapped_passenger")
    assert len(out) == 1
    assert out[0].at_us == T0_US + 30 * US
    assert out[0].severity == "critical"
    assert out[0].details["zone"] == "between_floors"
    assert out[0].details["nearest_landing_m"] == 9.0


def test_trapped_at_a_landing_whose_doors_do_not_open() -> None:
    car = Car(pos=LANDINGS[3])
    car.rest(31, alarm=True)
    out = raised(feed(engine(), car.take()), "trapped_passenger")
    assert [t.details["zone"] for t in out] == ["at_landing"]


def test_trapped_near_miss_doors_open_at_29_s_then_clear() -> None:
    e = engine()
    car = Car(pos=LANDINGS[3])
    car.rest(29, occupied=True)
    car.rest(5, occupied=True, door="opening")
    car.rest(40, occupied=True, door="closed")  # a new 30 s starts from zero
    out = feed(e, car.take())
    trapped = raised(out, "trapped_passenger")
    assert len(trapped) == 1
    assert trapped[0].at_us == T0_US + (29 + 5 + 30) * US


def test_trapped_clears_when_the_doors_open_at_a_landing() -> None:
    e = engine()
    car = Car(pos=LANDINGS[3])
    car.rest(40, occupied=True)
    car.rest(3, occupied=True, door="opening")
    out = feed(e, car.take())
    cleared = of(out, "trapped_passenger", "clear")
    assert len(cleared) == 1
    assert cleared[0].at_us == T0_US + 40 * US
    assert e.open_kinds(1) == set()


def test_trapped_not_raised_in_inspection_mode() -> None:
    car = Car(pos=10.5)
    car.rest(60, occupied=True, mode="inspection")
    assert raised(feed(engine(), car.take()), "trapped_passenger") == []


def test_trapped_updates_its_duration_every_minute() -> None:
    car = Car(pos=10.5)
    car.rest(155, occupied=True)
    out = feed(engine(), car.take())
    updates = of(out, "trapped_passenger", "update")
    assert [u.details["trapped_for_s"] for u in updates] == [60, 120]


def test_occupancy_comes_from_the_load_when_occupied_is_absent() -> None:
    car = Car(pos=10.5)
    car.rest(31, load_kg=80.0)
    assert len(raised(feed(engine(), car.take()), "trapped_passenger")) == 1


# -- door_open_while_moving ---------------------------------------------------------------


def test_door_open_while_moving_raised_at_once_and_cleared_when_stationary() -> None:
    e = engine()
    car = Car()
    car.ride(4, door="open")
    car.rest(15)
    out = feed(e, car.take())
    assert raised(out, "door_open_while_moving")[0].at_us == T0_US
    clear = of(out, "door_open_while_moving", "clear")
    assert len(clear) == 1 and e.open_kinds(1) == set()


def test_door_lock_open_while_moving_is_raised_too() -> None:
    car = Car()
    car.ride(4, door_lock=False)
    out = raised(feed(engine(), car.take()), "door_open_while_moving")
    assert out and out[0].details["door_lock"] is False


def test_levelling_creep_with_doors_open_is_a_near_miss() -> None:
    car = Car()
    car.rest(10, speed_mps=0.09, door="opening")
    assert raised(feed(engine(), car.take())) == []


def test_door_open_while_moving_ignored_in_maintenance_mode() -> None:
    car = Car()
    car.ride(4, door="open", mode="maintenance")
    assert raised(feed(engine(), car.take()), "door_open_while_moving") == []


# -- overspeed ----------------------------------------------------------------------------


def test_overspeed_raised_above_115_percent_and_cleared_after_10_s_under_rated() -> None:
    e = engine()
    car = Car()
    car.ride(10, speed=2.35)
    car.rest(9)
    first = feed(e, car.take())
    assert raised(first, "overspeed")[0].details["rated_speed_mps"] == 2.0
    assert of(first, "overspeed", "clear") == []  # only 9 s under rated speed
    car.rest(2)
    assert len(of(feed(e, car.take()), "overspeed", "clear")) == 1


def test_overspeed_near_miss_just_under_threshold() -> None:
    car = Car()
    car.ride(10, speed=2.29)
    assert raised(feed(engine(), car.take())) == []


def test_speed_hovering_at_the_threshold_raises_one_alert() -> None:
    e = engine()
    car = Car()
    for k in range(60):
        car.emit(speed_mps=2.31 if k % 2 else 2.29, door="closed")
    out = feed(e, car.take())
    assert len(raised(out, "overspeed")) == 1
    assert of(out, "overspeed", "clear") == []


def test_overspeed_updates_are_rate_limited_to_one_per_10_s() -> None:
    car = Car()
    for k in range(30):
        car.emit(speed_mps=2.4 + 0.06 * k)
    out = feed(engine(), car.take())
    updates = of(out, "overspeed", "update")
    assert updates, "a new peak speed is reported"
    gaps = [b.at_us - a.at_us for a, b in itertools.pairwise(updates)]
    assert all(g >= 10 * US for g in gaps)
    assert updates[0].at_us - raised(out, "overspeed")[0].at_us >= 10 * US


# -- overrun ------------------------------------------------------------------------------


def test_overrun_above_the_top_landing_and_back() -> None:
    e = engine()
    car = Car(pos=LANDINGS[-1] + 0.31)
    car.rest(12)
    car.pos = LANDINGS[-1]
    car.rest(3)
    out = feed(e, car.take())
    hit = raised(out, "overrun")
    assert len(hit) == 1 and hit[0].details["end"] == "top"
    assert len(of(out, "overrun", "clear")) == 1


def test_overrun_near_miss_within_03_m() -> None:
    car = Car(pos=-0.29)
    car.rest(5)
    assert raised(feed(engine(), car.take())) == []


def test_overrun_below_the_lowest_landing() -> None:
    car = Car(pos=-0.35)
    car.rest(2)
    assert raised(feed(engine(), car.take()), "overrun")[0].details["end"] == "bottom"


# -- safety_circuit_open ------------------------------------------------------------------


def test_safety_circuit_open_raised_and_cleared_after_60_s_closed() -> None:
    e = engine()
    car = Car()
    car.rest(5, safety_chain=False)
    car.rest(59, safety_chain=True)
    out = feed(e, car.take())
    assert len(raised(out, "safety_circuit_open")) == 1
    assert of(out, "safety_circuit_open", "clear") == []
    car.rest(2, safety_chain=True)
    assert len(of(feed(e, car.take()), "safety_circuit_open", "clear")) == 1


@pytest.mark.parametrize("mode", ["inspection", "maintenance"])
def test_safety_circuit_ignored_in_inspection_and_maintenance(mode: str) -> None:
    car = Car()
    car.rest(10, safety_chain=False, mode=mode)
    assert raised(feed(engine(), car.take())) == []


def test_omitted_optional_fields_carry_the_last_value_forward() -> None:
    car = Car()
    car.rest(1, safety_chain=True, mode="inspection")
    car.rest(5, safety_chain=False)  # mode omitted: still inspection
    assert raised(feed(engine(), car.take())) == []


# -- power_loss ---------------------------------------------------------------------------


def test_power_loss_after_10_s_and_clear_after_60_s_of_mains() -> None:
    e = engine()
    car = Car()
    car.rest(12, power="backup")
    car.rest(61, power="mains")
    out = feed(e, car.take())
    hit = raised(out, "power_loss")
    assert len(hit) == 1 and hit[0].at_us == T0_US + 10 * US
    assert len(of(out, "power_loss", "clear")) == 1


def test_power_loss_near_miss_9_s_on_battery() -> None:
    car = Car()
    car.rest(9, power="none")
    car.rest(5, power="mains")
    assert raised(feed(engine(), car.take())) == []


def test_a_gap_of_2_s_does_not_break_a_duration_but_3_s_does() -> None:
    car = Car()
    car.rest(5, power="backup")
    car.t_us += 1 * US  # one sample missing: 2 s between samples
    car.rest(6, power="backup")
    assert len(raised(feed(engine(), car.take()), "power_loss")) == 1
    car2 = Car()
    car2.rest(5, power="backup")
    car2.t_us += 2 * US  # 3 s between samples: the 10 s start again
    car2.rest(6, power="backup")
    assert raised(feed(engine(), car2.take())) == []


# -- leveling_error -----------------------------------------------------------------------


def test_leveling_error_at_3_of_5_stops_over_10_mm() -> None:
    e = engine()
    car = Car()
    for floor, mm in ((2, 12.0), (4, 1.0), (6, -13.0), (8, 0.5)):
        car.trip(floor, level_mm=mm)
    assert raised(feed(e, car.take())) == []
    car.trip(5, level_mm=11.5)
    out = raised(feed(e, car.take()), "leveling_error")
    assert len(out) == 1
    assert out[0].details["last_levels_mm"] == [12.0, 1.0, -13.0, 0.5, 11.5]
    assert out[0].severity == "minor"


def test_leveling_error_at_one_stop_over_20_mm() -> None:
    car = Car()
    car.trip(3, level_mm=-21.0)
    out = raised(feed(engine(), car.take()), "leveling_error")
    assert out and out[0].details["reason"] == "relevel_limit"


def test_leveling_near_miss_two_bad_stops_of_five() -> None:
    car = Car()
    for floor, mm in ((2, 12.0), (4, 1.0), (6, -19.0), (8, 0.5), (5, 10.0)):
        car.trip(floor, level_mm=mm)
    assert raised(feed(engine(), car.take())) == []


def test_leveling_error_clears_after_5_good_stops() -> None:
    e = engine()
    car = Car()
    car.trip(3, level_mm=25.0)
    for floor in (5, 7, 9, 6):
        car.trip(floor, level_mm=2.0)
    out = feed(e, car.take())
    assert of(out, "leveling_error", "clear") == []
    car.trip(2, level_mm=2.0)
    assert len(of(feed(e, car.take()), "leveling_error", "clear")) == 1


def test_the_level_of_a_stop_is_its_median() -> None:
    car = Car()
    car.ride(3)
    car.rest(2, door="opening", level_mm=30.0)  # a spike while the doors open ...
    car.rest(5, door="open", level_mm=2.0)  # ... the stop itself is level
    car.emit(door="closed", level_mm=2.0)
    assert raised(feed(engine(), car.take())) == []


def test_stops_in_inspection_mode_are_not_judged() -> None:
    car = Car()
    car.trip(3, level_mm=25.0, mode="inspection")
    assert raised(feed(engine(), car.take())) == []


# -- door_fault ---------------------------------------------------------------------------


def test_door_closing_for_60_s_raises_door_fault() -> None:
    car = Car(pos=LANDINGS[2])
    car.rest(2, door="open")
    car.rest(61, door="closing")
    out = raised(feed(engine(), car.take()), "door_fault")
    assert len(out) == 1 and out[0].details["reason"] == "stuck_closing"
    assert out[0].at_us == T0_US + (2 + 60) * US


def test_door_closing_for_59_s_is_a_near_miss() -> None:
    car = Car(pos=LANDINGS[2])
    car.rest(2, door="open")
    car.rest(59, door="closing")
    car.rest(2, door="closed")
    assert raised(feed(engine(), car.take())) == []


def _reversals(car: Car, n: int, every_s: int) -> None:
    car.rest(1, door="opening")
    for _ in range(n):
        car.rest(1, door="open")
        car.rest(1, door="closing")
        car.rest(every_s - 2, door="opening")


def test_five_reversals_in_two_minutes_raise_door_fault() -> None:
    car = Car(pos=LANDINGS[2])
    _reversals(car, 5, 6)
    out = raised(feed(engine(), car.take()), "door_fault")
    assert len(out) == 1
    assert out[0].details["reason"] == "reversals" and out[0].details["reversals"] == 5


def test_four_reversals_or_five_spread_over_three_minutes_are_near_misses() -> None:
    car = Car(pos=LANDINGS[2])
    _reversals(car, 4, 6)
    assert raised(feed(engine(), car.take())) == []
    car2 = Car(pos=LANDINGS[2])
    _reversals(car2, 5, 36)  # one every 36 s: never 5 within 120 s
    assert raised(feed(engine(), car2.take())) == []


def test_door_fault_clears_after_3_normal_cycles() -> None:
    e = engine()
    car = Car(pos=LANDINGS[2])
    _reversals(car, 5, 6)
    car.rest(2, door="open")
    car.rest(3, door="closing")
    car.emit(door="closed")
    car.stop()
    car.stop()
    out = feed(e, car.take())
    assert len(raised(out, "door_fault")) == 1
    assert of(out, "door_fault", "clear") == []
    car.stop()
    assert len(of(feed(e, car.take()), "door_fault", "clear")) == 1


def test_reversals_are_not_door_faults_in_fire_mode() -> None:
    car = Car(pos=LANDINGS[2])
    car.emit(door="closed", mode="fire")
    _reversals(car, 8, 6)
    assert raised(feed(engine(), car.take())) == []


def test_door_closing_slowly_drifting_raises_the_warning_extension() -> None:
    e = engine()
    car = Car(pos=LANDINGS[2])
    for _ in range(50):
        car.stop(closing_s=3)
        car.rest(1)
    assert raised(feed(e, car.take())) == []
    for _ in range(20):
        car.stop(closing_s=6)
        car.rest(1)
    out = raised(feed(e, car.take()), "door_closing_slow")
    assert len(out) == 1 and out[0].severity == "warning"
    assert out[0].details["closing_median_s"] > out[0].details["baseline_s"]


# -- motor_overheat -----------------------------------------------------------------------


def test_motor_overheat_after_60_s_over_90_and_clear_after_5_min_under_80() -> None:
    e = engine()
    car = Car()
    car.rest(61, motor_temp_c=91.0)
    car.rest(299, motor_temp_c=79.0)
    out = feed(e, car.take())
    assert raised(out, "motor_overheat")[0].at_us == T0_US + 60 * US
    assert of(out, "motor_overheat", "clear") == []
    car.rest(2, motor_temp_c=79.0)
    assert len(of(feed(e, car.take()), "motor_overheat", "clear")) == 1


def test_motor_at_exactly_90_is_a_near_miss() -> None:
    car = Car()
    car.rest(120, motor_temp_c=90.0)
    assert raised(feed(engine(), car.take())) == []


def test_motor_temperature_hovering_between_thresholds_does_not_flap() -> None:
    car = Car()
    car.rest(61, motor_temp_c=95.0)
    for k in range(600):
        car.emit(motor_temp_c=89.0 if k % 7 else 91.0)
    out = feed(engine(), car.take(), size=50)
    assert len(raised(out, "motor_overheat")) == 1
    assert of(out, "motor_overheat", "clear") == []


# -- abnormal_vibration -------------------------------------------------------------------


def _runs(car: Car, n: int, vib: float) -> None:
    for _ in range(n):
        car.ride(8 if car.floor != 8 else 1, accel=True, vib=vib)
        car.rest(3)


def test_abnormal_vibration_after_3_runs_over_twice_the_baseline() -> None:
    e = engine()
    car = Car(pos=LANDINGS[1])
    _runs(car, 12, 0.05)
    _runs(car, 2, 0.15)
    assert raised(feed(e, car.take(), size=20)) == []
    _runs(car, 1, 0.15)
    out = raised(feed(e, car.take(), size=20), "abnormal_vibration")
    assert len(out) == 1
    d = out[0].details
    assert 2.5 < d["ratio"] < 3.5
    assert d["baseline_rms_mps2"] == pytest.approx(0.05, rel=0.15)
    for key in ("pk_pk_mps2", "a95_mps2", "max_jerk_mps3", "rms_mps2"):
        assert d[key] > 0


def test_vibration_near_misses_below_2x_or_without_a_baseline() -> None:
    car = Car(pos=LANDINGS[1])
    _runs(car, 12, 0.05)
    _runs(car, 4, 0.09)  # 1.8x
    assert raised(feed(engine(), car.take(), size=20)) == []
    car2 = Car(pos=LANDINGS[1])
    _runs(car2, 5, 0.05)
    _runs(car2, 4, 0.2)  # 9 runs in all: not enough to judge any

    assert raised(feed(engine(), car2.take(), size=20)) == []


def test_abnormal_vibration_clears_after_5_good_runs() -> None:
    e = engine()
    car = Car(pos=LANDINGS[1])
    _runs(car, 12, 0.05)
    _runs(car, 3, 0.2)
    _runs(car, 4, 0.05)
    out = feed(e, car.take(), size=20)
    assert len(raised(out, "abnormal_vibration")) == 1
    assert of(out, "abnormal_vibration", "clear") == []
    _runs(car, 1, 0.05)
    assert len(of(feed(e, car.take(), size=20), "abnormal_vibration", "clear")) == 1


# -- alarm_pressed ------------------------------------------------------------------------


def test_alarm_pressed_after_5_s_and_clear_when_released() -> None:
    e = engine()
    car = Car(pos=LANDINGS[1])
    car.rest(20, alarm=True, door="open")
    car.rest(1, alarm=False, door="open")
    out = feed(e, car.take())
    assert raised(out, "alarm_pressed")[0].at_us == T0_US + 5 * US
    assert of(out, "alarm_pressed", "clear")[0].at_us == T0_US + 20 * US


def test_a_short_alert_stays_open_for_the_minimum_time() -> None:
    car = Car(pos=LANDINGS[1])
    car.rest(6, alarm=True, door="open")  # raised at 5 s, released at 6 s
    car.rest(15, alarm=False, door="open")
    out = feed(engine(), car.take())
    assert of(out, "alarm_pressed", "clear")[0].at_us == T0_US + 15 * US  # 10 s after


def test_alarm_held_4_s_is_a_near_miss() -> None:
    car = Car(pos=LANDINGS[1])
    car.rest(4, alarm=True, door="open")
    car.rest(5, alarm=False, door="open")
    assert raised(feed(engine(), car.take())) == []


# -- offline ------------------------------------------------------------------------------


def test_offline_after_90_s_of_silence_on_the_service_clock() -> None:
    e = engine()
    car = Car()
    car.rest(1)
    feed(e, car.take())
    assert e.tick(T0_US + 89 * US) == []
    out = e.tick(T0_US + 91 * US)
    assert [(t.kind, t.action, t.at_us) for t in out] == [("offline", "raise", T0_US + 90 * US)]
    assert e.tick(T0_US + 200 * US) == []  # at most one open alert
    car.rest(1)
    back = feed(e, car.take())
    assert [(t.kind, t.action) for t in back] == [("offline", "clear")]


def test_state_offline_raises_at_once_and_state_online_clears() -> None:
    e = engine()
    out = e.process(batch([], states=[("E1", 1, "offline", T0_US)]))
    assert [(t.kind, t.action, t.at_us) for t in out] == [("offline", "raise", T0_US)]
    out = e.process(batch([], states=[("E1", 1, "online", T0_US + 5 * US)]))
    assert [(t.kind, t.action) for t in out] == [("offline", "clear")]


def test_a_last_will_older_than_the_samples_still_raises() -> None:
    e = engine()
    car = Car()
    car.rest(10)
    feed(e, car.take())
    out = e.process(batch([], states=[("E1", 1, "offline", T0_US - 3600 * US)]))
    assert [(t.kind, t.action) for t in out] == [("offline", "raise")]
    assert out[0].at_us == T0_US + 9 * US  # not before the newest sample


def test_an_elevator_never_heard_from_is_not_offline() -> None:
    e = engine()
    assert e.tick(T0_US + 3600 * US) == []


# -- sealed_in_use ------------------------------------------------------------------------


def test_sealed_elevator_moving_raises_and_unsealing_clears() -> None:
    e = engine(info(sealed=True))
    car = Car()
    car.rest(3)
    assert raised(feed(e, car.take())) == []  # sealed and at rest: fine
    car.ride(3)
    out = raised(feed(e, car.take()), "sealed_in_use")
    assert len(out) == 1 and out[0].severity == "critical"
    e.set_elevators([info(sealed=False)])
    cleared = e.tick(car.t_us)
    assert [(t.kind, t.action) for t in cleared] == [("sealed_in_use", "clear")]


def test_sealed_in_use_clears_after_10_min_stationary() -> None:
    e = engine(info(sealed=True))
    car = Car()
    car.ride(3)
    car.rest(599)
    out = feed(e, car.take(), size=100)
    assert of(out, "sealed_in_use", "clear") == []
    car.rest(2)
    assert len(of(feed(e, car.take()), "sealed_in_use", "clear")) == 1


def test_unsealed_elevator_moves_freely() -> None:
    car = Car()
    car.ride(5)
    assert raised(feed(engine(), car.take())) == []


def test_normal_service_raises_nothing() -> None:
    e = engine()
    car = Car(pos=LANDINGS[0])
    for k in range(30):
        car.trip((k * 7) % 11 or 1, level_mm=1.0, accel=True, occupied=k % 3 == 0,
                 motor_temp_c=45.0)
        car.rest(20)
    assert raised(feed(e, car.take(), size=30)) == []
