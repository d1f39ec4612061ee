from __future__ import annotations

import email.utils
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.testing.sandbox.config import SandboxConfig
from reliable_api.testing.sandbox.headers import rate_limit_headers, retry_after
from reliable_api.testing.sandbox.ratelimit import NANOS, GcraLimiter, QuotaPolicy, RateDecision


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000 * NANOS

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * NANOS)


def admitted_while_hammering(limiter: GcraLimiter, clock: FakeClock, seconds: float, step: float) -> int:
    """Admissions when a client retries every ``step`` seconds for ``seconds`` (both ends included)."""
    admitted = 0
    end = clock.now + round(seconds * NANOS)
    while clock.now <= end:
        while limiter.acquire("k").allowed:
            admitted += 1
        clock.advance(step)
    return admitted


@pytest.mark.parametrize(
    ("rate", "burst", "seconds"),
    [(50, 1, 10), (50, 10, 10), (3, 5, 7), (0.5, 1, 30), (1000, 1, 2), (7.5, 2, 4)],
)
def test_admits_exactly_rate_times_duration_plus_burst(rate: float, burst: int, seconds: int) -> None:
    clock = FakeClock()
    limiter = GcraLimiter(rate, burst, clock=clock)
    assert admitted_while_hammering(limiter, clock, seconds, step=0.001) == int(rate * seconds) + burst


@given(
    rate=st.floats(min_value=0.1, max_value=500),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200),
)
def test_never_admits_more_than_the_bound_over_any_arrival_pattern(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    limiter = GcraLimiter(rate, burst, clock=clock)
    start = clock.now
    admitted = 0
    for gap in gaps:
        clock.advance(gap)
        admitted += limiter.acquire("k").allowed
    elapsed = (clock.now - start) / NANOS
    assert admitted <= burst + rate * elapsed + 1e-6


def test_retry_after_names_the_exact_time_of_the_next_admission() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(2, 3, clock=clock)
    for _ in range(3):
        assert limiter.acquire("k").allowed
    denied = limiter.acquire("k")
    assert denied == RateDecision(allowed=False, remaining=0, reset_after=1.5, retry_after=0.5)
    clock.advance(denied.retry_after - 1e-9)
    assert not limiter.acquire("k").allowed
    clock.advance(1e-9)
    assert limiter.acquire("k").allowed


def test_remaining_and_reset_count_down_the_burst() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(10, 3, clock=clock)
    decisions = [limiter.acquire("k") for _ in range(3)]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    assert [d.reset_after for d in decisions] == pytest.approx([0.1, 0.2, 0.3])
    clock.advance(0.3)
    assert limiter.acquire("k").remaining == 2


def test_keys_have_separate_buckets() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(1, 1, clock=clock)
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    assert limiter.acquire("b").allowed


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_rejects_impossible_limits(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="GCRA needs"):
        GcraLimiter(rate, burst)


@pytest.mark.parametrize(
    ("rate", "quota", "window"),
    [(50, 50, 1), (0.5, 1, 2), (2.5, 5, 2), (1 / 3, 1, 3), (0.001, 1, 1000), (math.pi, 3, 1)],
)
def test_quota_policy_uses_the_shortest_whole_window(rate: float, quota: int, window: int) -> None:
    assert QuotaPolicy.for_rate(rate) == QuotaPolicy(quota, window)


def test_retry_after_rounds_up_in_both_forms() -> None:
    now = 1_700_000_000.25
    assert retry_after(0.02, http_date=False, now=now).value == "1"
    assert retry_after(2.0, http_date=False, now=now).value == "2"
    dated = retry_after(0.02, http_date=True, now=now)
    named = email.utils.parsedate_to_datetime(dated.value).timestamp()
    assert named == 1_700_000_001
    assert dated.promised_wait == pytest.approx(0.75)


DENIED = RateDecision(allowed=False, remaining=0, reset_after=0.5, retry_after=0.02)


def test_header_families_follow_the_switches() -> None:
    policy = QuotaPolicy(50, 1)
    all_on = dict(rate_limit_headers(DENIED, policy, SandboxConfig(), now=1000.5))
    assert all_on == {
        "RateLimit-Policy": '"default";q=50;w=1',
        "RateLimit": '"default";r=0;t=1',
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1002",
    }
    delta = dict(rate_limit_headers(DENIED, policy, SandboxConfig(legacy_reset="delta"), now=1000.5))
    assert delta["X-RateLimit-Reset"] == "1"
    off = SandboxConfig(ratelimit_headers=False, legacy_headers=False)
    assert rate_limit_headers(DENIED, policy, off, now=1000.5) == []
