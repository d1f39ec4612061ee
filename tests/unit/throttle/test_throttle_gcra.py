"""The pure GCRA arithmetic every backend shares."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.throttle.base import (
    LimiterState,
    Reservation,
    Window,
    gcra_adjust,
    gcra_pause,
    gcra_reserve,
)


def reserve(
    state: LimiterState, *, now: float, interval: float, burst: int, max_wait: float
) -> tuple[Reservation, LimiterState]:
    """One window of ``burst`` at one request per ``interval``: the single-window case."""
    window = Window(count=1, period=interval, burst=burst)
    return gcra_reserve(state, now=now, windows=(window,), cost=1, max_wait=max_wait)


def hammer(state: LimiterState, *, interval: float, burst: int, seconds: float, step: float) -> int:
    """Grants when a client asks every ``step`` seconds for ``seconds``, never waiting (max_wait=0)."""
    granted, now = 0, 0.0
    while now <= seconds:
        reservation, state = reserve(state, now=now, interval=interval, burst=burst, max_wait=0.0)
        if reservation.granted:
            granted += 1
        else:
            now += step
    return granted


@given(
    sixty_fourths=st.integers(min_value=1, max_value=128),
    burst=st.integers(min_value=1, max_value=20),
    periods=st.integers(min_value=0, max_value=200),
    halvings=st.integers(min_value=1, max_value=4),
)
def test_over_t_seconds_exactly_rate_times_t_plus_burst(
    sixty_fourths: int, burst: int, periods: int, halvings: int
) -> None:
    # Binary fractions keep the arithmetic exact, so a slot is never missed by a rounding error
    # (a client that comes late loses that time: GCRA keeps no credit beyond the burst).
    # T ends half an interval past a slot, so no slot sits on the boundary.
    interval = sixty_fourths / 64
    seconds = (periods + 0.5) * interval
    granted = hammer(
        LimiterState(), interval=interval, burst=burst, seconds=seconds, step=interval / 2**halvings
    )
    assert granted == burst + math.floor(seconds / interval)


@given(
    interval=st.floats(min_value=0.001, max_value=10.0),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=300),
)
def test_never_more_than_rate_times_t_plus_burst(interval: float, burst: int, gaps: list[float]) -> None:
    state, now, granted = LimiterState(), 0.0, 0
    for gap in gaps:
        now += gap
        reservation, state = reserve(state, now=now, interval=interval, burst=burst, max_wait=0.0)
        granted += reservation.granted
    assert granted <= burst + math.floor(now / interval * (1 + 1e-9))


def test_reservations_queue_one_interval_apart_after_the_burst() -> None:
    state = LimiterState()
    waits = []
    for _ in range(5):
        reservation, state = reserve(state, now=10.0, interval=0.5, burst=2, max_wait=math.inf)
        assert reservation.granted
        waits.append(reservation.wait)
    assert waits == [0.0, 0.0, 0.5, 1.0, 1.5]


def test_a_wait_beyond_max_wait_reserves_nothing() -> None:
    state = LimiterState(tats=(12.0,))
    reservation, after = reserve(state, now=10.0, interval=1.0, burst=1, max_wait=1.5)
    assert (reservation.granted, reservation.wait) == (False, 2.0)
    assert after is state


def test_a_wait_equal_to_max_wait_is_reserved() -> None:
    reservation, after = reserve(LimiterState(tats=(12.0,)), now=10.0, interval=1.0, burst=1, max_wait=2.0)
    assert (reservation.granted, reservation.wait, after.tat(0)) == (True, 2.0, 13.0)


def test_a_pause_holds_every_reservation_until_it_ends() -> None:
    state = gcra_pause(LimiterState(), now=10.0, seconds=5.0)
    first, state = reserve(state, now=11.0, interval=1.0, burst=1, max_wait=math.inf)
    second, state = reserve(state, now=11.0, interval=1.0, burst=1, max_wait=math.inf)
    assert (first.wait, second.wait) == (4.0, 5.0)


def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    state = gcra_pause(LimiterState(), now=10.0, seconds=30.0)
    assert gcra_pause(state, now=11.0, seconds=1.0).paused_until == 40.0
    assert gcra_pause(state, now=11.0, seconds=60.0).paused_until == 71.0


def test_adjust_slows_down_then_waits_for_the_cooldown() -> None:
    state = gcra_adjust(LimiterState(), now=10.0, interval=1.0, factor=2.0, ceiling=100.0, cooldown=5.0)
    assert (state.interval, state.interval_changed_at) == (2.0, 10.0)
    assert gcra_adjust(state, now=14.0, interval=1.0, factor=2.0, ceiling=100.0, cooldown=5.0) is state
    assert gcra_adjust(state, now=15.0, interval=1.0, factor=2.0, ceiling=100.0, cooldown=5.0).interval == 4.0


@pytest.mark.parametrize(("factor", "expected"), [(1000.0, 8.0), (0.001, 1.0)])
def test_adjust_stays_between_the_interval_and_the_ceiling(factor: float, expected: float) -> None:
    state = gcra_adjust(
        LimiterState(interval=2.0), now=0.0, interval=1.0, factor=factor, ceiling=8.0, cooldown=0
    )
    assert state.interval == expected


def test_an_adjusted_interval_slows_every_reservation() -> None:
    state = gcra_adjust(LimiterState(), now=0.0, interval=1.0, factor=3.0, ceiling=10.0, cooldown=0)
    reservation, _ = reserve(state, now=0.0, interval=1.0, burst=1, max_wait=0)
    assert reservation.interval == 3.0


def test_a_policy_slower_than_configured_holds_although_it_is_the_floor() -> None:
    # Floor = the announced policy (2 s) above the configured 1 s: stored as is, so reserve,
    # which knows only the configured interval, still spaces by 2 s.
    state = gcra_adjust(LimiterState(), now=0.0, interval=2.0, factor=1.0, ceiling=2.0, cooldown=0)
    reservation, _ = reserve(state, now=0.0, interval=1.0, burst=1, max_wait=0)
    assert reservation.interval == 2.0
