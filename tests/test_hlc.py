"""The hybrid logical clock: never backwards, whatever the wall clock or the peers do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_kit.engine.errors import ClockSkewError
from client_kit.engine.hlc import HybridClock, logical, pack, physical_ms

NOW = 1_772_323_200_000  # 2026-03-01 00:00 UTC
DAY = 86_400_000


def test_a_timestamp_packs_its_wall_clock_and_counter():
    ts = pack(NOW, 7)
    assert (physical_ms(ts), logical(ts)) == (NOW, 7)
    assert pack(NOW, 0) > pack(NOW - 1, 65_535)


def test_a_tick_takes_the_wall_clock_when_it_moves_forward():
    clock = HybridClock()
    assert clock.tick(NOW) == pack(NOW)
    assert clock.tick(NOW + 5) == pack(NOW + 5)


def test_ticks_within_one_millisecond_count_on_logically():
    clock = HybridClock()
    stamps = [clock.tick(NOW) for _ in range(3)]
    assert stamps == [pack(NOW, 0), pack(NOW, 1), pack(NOW, 2)]


def test_a_wall_clock_going_backwards_does_not_move_the_clock_back():
    clock = HybridClock()
    first = clock.tick(NOW)
    second = clock.tick(NOW - DAY * 30)  # the tablet's clock was reset a month back
    assert second == first + 1
    assert physical_ms(second) == NOW and logical(second) == 1
    assert clock.tick(NOW - 1) == first + 2


def test_once_the_wall_clock_catches_up_it_is_used_again():
    clock = HybridClock()
    clock.tick(NOW)
    clock.tick(NOW - 1000)
    assert clock.tick(NOW + 1) == pack(NOW + 1)


def test_a_full_logical_counter_carries_into_the_physical_part():
    clock = HybridClock(last=pack(NOW, 65_535))
    stamp = clock.tick(NOW)
    assert stamp == pack(NOW + 1, 0)
    stamps = [clock.tick(NOW) for _ in range(70_000)]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def test_a_clock_restarts_from_its_last_timestamp():
    before = HybridClock()
    last = before.tick(NOW)
    after = HybridClock(last=last)
    assert after.tick(NOW - DAY) > last


def test_receiving_a_timestamp_from_behind_still_advances():
    clock = HybridClock()
    local = clock.tick(NOW)
    assert clock.receive(pack(NOW - DAY), NOW) == local + 1


def test_receiving_a_timestamp_ahead_moves_past_it():
    clock = HybridClock()
    clock.tick(NOW)
    remote = pack(NOW + 500, 3)
    assert clock.receive(remote, NOW) == remote + 1
    assert clock.tick(NOW) == remote + 2


def test_a_remote_timestamp_far_ahead_is_accepted_without_a_bound():
    clock = HybridClock()
    clock.tick(NOW)
    remote = pack(NOW + DAY * 365 * 5)  # a tablet five years in the future
    assert clock.receive(remote, NOW) == remote + 1
    assert clock.tick(NOW) > remote  # and later local events stay after it


def test_a_remote_timestamp_beyond_the_bound_is_refused_and_the_clock_left_untouched():
    clock = HybridClock(max_ahead_ms=60_000)
    before = clock.tick(NOW)
    with pytest.raises(ClockSkewError) as caught:
        clock.receive(pack(NOW + DAY), NOW)
    assert clock.last == before
    assert caught.value.code == "clock_ahead"
    assert "设备时钟" in str(caught.value) and "86400" in str(caught.value)
    assert clock.tick(NOW) == before + 1


def test_the_bound_itself_is_accepted_and_one_millisecond_more_is_refused():
    clock = HybridClock(max_ahead_ms=60_000)
    clock.check(pack(NOW + 60_000, 65_535), NOW)
    assert clock.receive(pack(NOW + 60_000), NOW) == pack(NOW + 60_000) + 1
    with pytest.raises(ClockSkewError):
        clock.receive(pack(NOW + 60_001), NOW)


def test_a_bound_does_not_limit_timestamps_from_behind():
    clock = HybridClock(max_ahead_ms=0)
    clock.tick(NOW)
    assert clock.receive(pack(1), NOW) == pack(NOW) + 1


# -- properties -----------------------------------------------------------------------------

WALL = st.integers(min_value=0, max_value=NOW * 2)
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), WALL),
        st.tuples(st.just("receive"), WALL, st.integers(min_value=-DAY * 400,
                                                        max_value=DAY * 400),
                  st.integers(0, 65_535)),
    ),
    min_size=1, max_size=80,
)


def run(clock: HybridClock, events: list[tuple]) -> None:  # type: ignore[type-arg]
    """Play ``events``, checking after each one that the clock only moved forward."""
    previous = clock.last
    for event in events:
        if event[0] == "tick":
            _, wall = event
            stamp = clock.tick(wall)
            assert stamp >= pack(wall)
        else:
            _, wall, offset, counter = event
            remote = pack(max(0, wall + offset), counter)
            try:
                stamp = clock.receive(remote, wall)
            except ClockSkewError:
                assert clock.max_ahead_ms is not None
                assert physical_ms(remote) > wall + clock.max_ahead_ms
                assert clock.last == previous
                continue
            assert stamp > remote and stamp >= pack(wall)
        assert stamp > previous
        assert clock.last == stamp
        previous = stamp


@given(EVENTS)
def test_the_clock_is_strictly_monotonic_under_any_wall_clock_and_any_peer(events):
    run(HybridClock(), events)


@given(EVENTS, st.integers(min_value=0, max_value=DAY * 30))
def test_the_clock_is_strictly_monotonic_with_a_bound_on_peers(events, max_ahead_ms):
    run(HybridClock(max_ahead_ms=max_ahead_ms), events)


@given(st.lists(st.tuples(st.sampled_from("ab"), WALL), min_size=2, max_size=40))
def test_a_message_is_always_stamped_after_every_event_its_sender_saw(sends):
    # Two devices pass a message back and forth; each receive must follow the send it got.
    clocks = {"a": HybridClock(), "b": HybridClock()}
    for sender, wall in sends:
        receiver = "b" if sender == "a" else "a"
        sent = clocks[sender].tick(wall)
        assert clocks[receiver].receive(sent, wall) > sent
