"""No single message can blind detection (CONTRACT section 8): a sample dated ahead of the
service clock, a forged maintenance mode carried forward, a state message from the future."""

from __future__ import annotations

from core.accept import WireDecoder
from core.codec import Sample
from tests.rules.test_engine_helpers import (
    T0_US,
    US,
    Car,
    batch,
    engine,
    feed,
    info,
    raised,
)


def live_feed(samples: list[tuple[int, tuple[int, Sample]]]) -> list:  # (clock, sample)
    """Feed one sample per call, each with the service clock of its arrival."""
    e = engine(info())
    return [t for clock, sample in samples for t in e.process(batch([sample]), now_us=clock)]


Stamped = tuple[int, Sample]


def forged_stream() -> tuple[list[Stamped], Stamped, list[Stamped]]:
    """5 s of a car at rest, one forged sample dated 240 s ahead (under the 5 minutes that
    are rejected), then 40 s of a passenger trapped between floors, starting now."""
    car = Car(pos=10.5)
    car.rest(5)
    forged_at = car.t_us + 240 * US
    forged = (forged_at, Sample(ts=forged_at // 1000, floor=3, speed_mps=0.0, door="closed",
                                pos_m=10.5, seq=999))
    genuine = Car(pos=10.5, t_us=car.t_us)
    genuine.rest(40, occupied=True)
    return car.take(), forged, genuine.take()


def test_a_sample_from_the_future_does_not_hold_back_a_trapped_passenger() -> None:
    before, forged, genuine = forged_stream()
    now = genuine[0][0]  # the forged sample arrives just before the genuine ones
    arrivals = [(ts, (ts, s)) for ts, s in before] + [(now, forged)]
    arrivals += [(ts, (ts, s)) for ts, s in genuine]
    hit = raised(live_feed(arrivals), "trapped_passenger")
    assert len(hit) == 1, "the genuine samples after the forged one are still evaluated"
    assert hit[0].at_us == now + 30 * US, "on time, not 4 minutes late"


def test_without_the_skew_guard_the_forged_sample_would_have_blinded_the_engine() -> None:
    # The same stream with the service clock far ahead (as if the forged sample were
    # genuine): then the genuine samples are late and cannot start the trapped timer.
    before, forged, genuine = forged_stream()
    e = engine(info())
    out = e.process(batch([*before, forged]), now_us=forged[0])
    out += e.process(batch(genuine), now_us=forged[0])
    assert raised(out, "trapped_passenger") == []


def test_a_forged_maintenance_mode_stops_suppressing_after_the_expiry() -> None:
    car = Car(pos=10.5)
    car.emit(mode="maintenance")  # forged, or stale: never repeated
    car.rest(400, occupied=True)  # a passenger trapped, samples without `mode`
    out = feed(engine(info()), car.take(), size=1)
    hit = raised(out, "trapped_passenger")
    assert len(hit) == 1, "the carried maintenance mode expired"
    assert T0_US + 300 * US < hit[0].at_us <= T0_US + 340 * US


def test_a_repeated_maintenance_mode_keeps_suppressing() -> None:
    car = Car(pos=10.5)
    car.rest(400, occupied=True, mode="maintenance")  # a technician riding the car
    assert raised(feed(engine(info()), car.take(), size=10), "trapped_passenger") == []


def test_a_state_message_is_checked_like_a_sample() -> None:
    d = WireDecoder()
    now_ms = T0_US // 1000
    future = d.decode("lift/E1/state", b'{"state": "offline", "ts": %d}' % (now_ms + 3_600_000),
                      T0_US)
    assert future.reject is not None and future.reject.reason == "ts_in_future"
    assert "3600 s in the future" in future.reject.detail
    old = d.decode("lift/E1/state", b'{"state": "online", "ts": 1000}', T0_US)
    assert old.reject is not None and old.reject.reason == "out_of_range"
    big = d.decode("lift/E1/state",
                   b'{"state": "online", "ts": %d, "pad": "%s"}' % (now_ms, b"x" * 2000), T0_US)
    assert big.reject is not None and big.reject.reason == "too_large"
    fine = d.decode("lift/E1/state", b'{"state": "online", "ts": %d}' % now_ms, T0_US)
    assert fine.reject is None and fine.state == ("online", T0_US)
