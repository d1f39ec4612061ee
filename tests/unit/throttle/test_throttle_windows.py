"""Several windows per limit, calendar resets, request cost and the API's own count: pure arithmetic."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from reliable_api.core.rates import Rate, parse_rates
from reliable_api.exceptions import ConfigurationError
from reliable_api.throttle.base import (
    Confirmation,
    LimiterState,
    Window,
    gcra_confirm,
    gcra_hold,
    gcra_reserve,
    gcra_sync,
    window_usage,
)
from reliable_api.throttle.windows import build_windows, describe, utc_offset

PACE = Window(count=10, period=1, burst=1)  # 0.1 s apart
DAILY = Window(count=5, period=86400, burst=5)  # a rolling quota of 5 a day
MIDNIGHT = Window(count=3, period=86400, burst=3, calendar_offset=3600.0)  # 3 a day, UTC+1
NOON_UTC = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + 43200  # 12:00 UTC on some day


def reserve_all(state: LimiterState, windows: tuple[Window, ...], *, now: float, n: int) -> list[float]:
    waits = []
    for _ in range(n):
        reservation, state = gcra_reserve(state, now=now, windows=windows, cost=1, max_wait=math.inf)
        waits.append(reservation.wait)
    return waits


def test_a_long_window_lets_its_count_go_at_the_short_windows_rate_then_binds() -> None:
    waits = reserve_all(LimiterState(), (PACE, DAILY), now=NOON_UTC, n=6)
    assert waits[:5] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    # the sixth waits for the day's first unit to leak out: one interval (86400 / 5) after it
    assert waits[5] == pytest.approx(86400 / 5)


def test_a_refused_slot_takes_nothing_from_any_window() -> None:
    state = LimiterState()
    for _ in range(5):
        _, state = gcra_reserve(state, now=NOON_UTC, windows=(PACE, DAILY), cost=1, max_wait=math.inf)
    refused, after = gcra_reserve(state, now=NOON_UTC, windows=(PACE, DAILY), cost=1, max_wait=60)
    assert (refused.granted, refused.window, after) == (False, 1, state)


def test_a_calendar_window_resets_at_local_midnight() -> None:
    # 12:00 UTC is 13:00 at UTC+1: local midnight comes 11 hours later.
    waits = reserve_all(LimiterState(), (PACE, MIDNIGHT), now=NOON_UTC, n=4)
    assert waits[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert waits[3] == pytest.approx(11 * 3600)


def test_a_calendar_window_starts_empty_each_day() -> None:
    state = LimiterState()
    for _ in range(3):
        _, state = gcra_reserve(state, now=NOON_UTC, windows=(PACE, MIDNIGHT), cost=1, max_wait=math.inf)
    next_day = NOON_UTC + 86400
    assert reserve_all(state, (PACE, MIDNIGHT), now=next_day, n=3) == pytest.approx([0.0, 0.1, 0.2])


def test_a_request_of_cost_n_takes_n_units_in_every_window() -> None:
    reservation, state = gcra_reserve(LimiterState(), now=0.0, windows=(PACE, DAILY), cost=3, max_wait=0)
    assert reservation.granted
    usage = window_usage(state, now=0.0, windows=(PACE, DAILY))
    assert [round(use.used, 6) for use in usage] == [1.0, 3.0]  # the pacing window holds 1 (its burst)
    # 2 units left in the day: a request of cost 3 must wait for one to leak out
    second, _ = gcra_reserve(state, now=1.0, windows=(PACE, DAILY), cost=3, max_wait=math.inf)
    assert (second.window, second.wait) == (1, pytest.approx(86400 / 5 - 1.0))


def test_usage_reports_each_window_with_its_reset() -> None:
    state = LimiterState()
    for _ in range(2):
        _, state = gcra_reserve(state, now=NOON_UTC, windows=(PACE, MIDNIGHT), cost=1, max_wait=math.inf)
    pace, day = window_usage(state, now=NOON_UTC + 0.2, windows=(PACE, MIDNIGHT))
    assert (pace.used, pace.capacity) == (0.0, 1.0)
    assert (day.used, day.capacity, day.resets_in) == (
        pytest.approx(2.0),
        3.0,
        pytest.approx(11 * 3600 - 0.2),
    )


def test_the_apis_count_wins_in_both_directions() -> None:
    state = gcra_sync(LimiterState(), now=0.0, windows=(PACE, DAILY), index=1, used=4)
    assert window_usage(state, now=0.0, windows=(PACE, DAILY))[1].used == pytest.approx(4.0)
    state = gcra_sync(state, now=0.0, windows=(PACE, DAILY), index=1, used=1)
    assert window_usage(state, now=0.0, windows=(PACE, DAILY))[1].used == pytest.approx(1.0)


def test_confirm_holds_a_send_until_the_guard_after_the_last_actual_send() -> None:
    answer, state = gcra_confirm(LimiterState(), now=10.0, guard=0.05)
    assert (answer, state.last_sent) == (Confirmation(0.0, 0.0, 0.0, sent_at=10.0), 10.0)
    answer, after = gcra_confirm(state, now=10.03, guard=0.05)
    assert (answer, after) == (Confirmation(0.0, pytest.approx(0.02), 0.0), state)
    answer, after = gcra_confirm(LimiterState(paused_until=12.0), now=10.0, guard=0.05)
    assert (answer, after.last_sent) == (Confirmation(2.0, 0.0, 0.0), 0.0)


def test_confirm_guards_by_a_share_of_the_adaptive_interval_in_force() -> None:
    slowed = LimiterState(interval=0.1, last_sent=10.0)
    answer, after = gcra_confirm(slowed, now=10.06, guard=0.05, share=0.99)
    assert (answer, after) == (Confirmation(0.0, pytest.approx(0.099 - 0.06), 0.1), slowed)
    answer, after = gcra_confirm(slowed, now=10.1, guard=0.05, share=0.99)
    assert (answer.wait, answer.sent_at, after.last_sent) == (0.0, 10.1, 10.1)


def test_hold_moves_the_last_send_later_never_earlier() -> None:
    assert gcra_hold(LimiterState(last_sent=10.0), until=10.005).last_sent == 10.005
    assert gcra_hold(LimiterState(last_sent=10.0), until=9.0).last_sent == 10.0


def test_parse_rates_sorts_windows_shortest_first() -> None:
    assert parse_rates("100000/d, 25/s") == (Rate(25, 1), Rate(100000, 86400))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("20/s, 30/s", "two windows of 1 s"),
        ("20/s, 10000/min", "never binds"),
        ("20/s, ", "must look like"),
        ("", "must be a rate"),
    ],
)
def test_contradictory_or_redundant_windows_are_named(text: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=f"rate_limit.*{match}|{match}"):
        parse_rates(text)


def test_long_windows_default_to_a_burst_of_their_count() -> None:
    windows = build_windows([Rate(25, 1), Rate(100000, 86400)], burst=5)
    assert [(w.burst, w.calendar_offset) for w in windows] == [(5.0, None), (100000.0, None)]


def test_calendar_windows_take_the_time_zones_offset() -> None:
    winter = datetime(2026, 1, 15, tzinfo=timezone.utc)
    windows = build_windows(
        [Rate(25, 1), Rate(1000, 86400)], reset="calendar", zone="Europe/Paris", at=winter
    )
    assert windows[1].calendar_offset == 3600.0
    assert describe(windows[1]) == "1000/86400s (calendar, UTC+01:00)"
    assert utc_offset("America/New_York", at=winter) == -5 * 3600


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"burst": 30}, "burst .30. is larger than the count of the window 25/1s"),
        ({"reset": "monthly"}, "quota_reset must be one of rolling, calendar"),
        ({"reset": "calendar", "zone": "Mars/Olympus"}, "quota_timezone must be an IANA time zone"),
    ],
)
def test_bad_window_settings_name_the_setting(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        build_windows([Rate(25, 1), Rate(1000, 86400)], **kwargs)  # type: ignore[arg-type]
