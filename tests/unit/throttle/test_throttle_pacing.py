"""Pacing for strict limiters, quotas, the API's own count and per-key limits, on a fake clock."""

from __future__ import annotations

import logging

import pytest

from reliable_api.core.rates import Rate
from reliable_api.exceptions import ConfigurationError, RateLimited
from reliable_api.throttle.aimd import Aimd
from reliable_api.throttle.errors import QuotaExhausted
from reliable_api.throttle.limiter import SharedRateLimiter
from reliable_api.throttle.memory import MemoryBackend
from reliable_api.throttle.windows import build_windows
from tests.unit.throttle.fakes import FakeClock
from tests.unit.throttle.fakes import clock as clock

TWENTY = Rate(count=20, period=1)  # 50 ms apart
QUOTA = Rate(count=100, period=3600)


@pytest.fixture
def backend(clock: FakeClock) -> MemoryBackend:
    return MemoryBackend(now=clock)


def paced(backend: MemoryBackend, clock: FakeClock, *rates: Rate, **kwargs: object) -> SharedRateLimiter:
    windows = build_windows([TWENTY, *rates])
    return SharedRateLimiter(
        backend,
        "conn:api",
        TWENTY,
        1,
        windows=windows,
        sleep=clock.sleep,
        monotonic=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def test_slots_are_spaced_a_margin_wider_than_the_documented_interval(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock)
    waits = [worker.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.051, 0.051])  # 50 ms + 2%


def test_a_late_send_holds_the_next_until_the_guard_after_it(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = paced(backend, clock), paced(backend, clock)
    start = clock.now
    one.acquire()  # slot at 0, sent at 0
    # one's next send, due at +51 ms, goes 3 ms late; two's slot (+51 ms, reserved now, at
    # +54 ms) would leave it 0 ms after one's actual send: the guard holds it back.
    clock.advance(0.054)
    backend.confirm(one.key, guard=0.0)  # one actually sends at +54 ms
    clock.sleeps.clear()
    two.acquire()  # reserves +51 ms (now: +54 ms, no wait), then the guard holds it
    guard = 0.051 * (1 - 0.01)
    assert clock.sleeps == pytest.approx([guard])
    assert clock.now == pytest.approx(start + 0.054 + guard)


def test_a_lone_429_after_a_quiet_stretch_widens_the_margin_a_little(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock)
    for _ in range(Aimd().quiet):
        worker.acquire()
        worker.on_success()
    worker.on_rate_limited(None)
    assert worker.interval == pytest.approx(0.051 * 1.02)


def test_a_429_for_a_request_sent_after_a_slow_down_means_the_rate_is_wrong(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock)
    worker.acquire()
    worker.on_rate_limited(None)  # the pacing's own: the margin widens by 2%
    assert worker.interval == pytest.approx(0.051 * 1.02)
    worker.acquire()  # sent at the wider pace, and still refused: multiplicative decrease
    worker.on_rate_limited(None)
    assert worker.interval == pytest.approx(0.051 * 1.02 / 0.9)
    worker.acquire()
    worker.on_rate_limited(None)  # each refusal at the new pace slows down again
    assert worker.interval == pytest.approx(0.051 * 1.02 / 0.9**2)


def test_429s_of_requests_sent_before_a_slow_down_count_once(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = paced(backend, clock), paced(backend, clock)
    one.acquire()
    two.acquire()  # both sent at 51 ms
    one.on_rate_limited(None)
    two.on_rate_limited(None)  # refused at the old pace too: the slow-down already covers it
    assert two.interval == pytest.approx(0.051 * 1.02)
    assert backend.state(one.key)[0].interval == pytest.approx(0.051 * 1.02)


def test_a_slow_down_seen_in_a_reservation_makes_the_next_429_a_wrong_rate(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = paced(backend, clock), paced(backend, clock)
    one.acquire()
    one.on_rate_limited(None)  # one slows the limit down
    two.acquire()  # two reserves at the slower pace, and is refused there
    two.on_rate_limited(None)
    assert two.interval == pytest.approx(0.051 * 1.02 / 0.9)


def test_after_a_quiet_stretch_a_429_is_the_pacings_own_again(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock)
    worker.acquire()
    worker.on_rate_limited(None)
    clock.advance(Aimd().quiet * worker.interval + 0.001)
    worker.acquire()
    worker.on_rate_limited(None)
    assert worker.interval == pytest.approx(0.051 * 1.02**2)


def test_the_guard_follows_a_slow_down_made_after_the_reservation(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = paced(backend, clock), paced(backend, clock)
    one.acquire()  # sent at 0
    reservation = backend.reserve(two.key, windows=two._paced, cost=1, max_wait=1.0)  # two's slot: +51 ms
    backend.adjust(one.key, interval=0.1, factor=1.0, ceiling=1.0, cooldown=0.0)  # one slows to 100 ms
    clock.advance(reservation.wait)
    clock.sleeps.clear()
    assert two._confirm() == (False, pytest.approx(0.1 * 0.99 - reservation.wait))
    assert two.interval == pytest.approx(0.1)  # a 429 now would slow down from 100 ms


def test_an_answer_later_than_the_fastest_holds_the_next_send(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = paced(backend, clock), paced(backend, clock)
    one.acquire()
    clock.advance(0.001)
    one.on_success()  # 1 ms: the fastest answer so far, nothing to hold
    one.acquire()  # its slot, at +51 ms
    sent = backend.state(one.key)[0].last_sent
    clock.advance(0.006)
    one.on_success()  # 5 ms later than the fastest: the API may have read it 5 ms late
    assert backend.state(one.key)[0].last_sent == pytest.approx(sent + 0.005)
    clock.sleeps.clear()
    two.acquire()  # the next send keeps its guard from that later reading
    assert clock.now == pytest.approx(sent + 0.005 + 0.051 * 0.99)


def test_a_late_answer_holds_at_most_a_share_of_the_interval(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock)
    worker.acquire()
    clock.advance(0.001)
    worker.on_success()
    worker.acquire()
    sent = backend.state(worker.key)[0].last_sent
    clock.advance(2.0)  # an API whose answers take long: the hold stays small
    worker.on_success()
    assert backend.state(worker.key)[0].last_sent == pytest.approx(sent + 0.1 * 0.051)


def test_neither_a_429_nor_a_burst_limit_is_held(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = paced(backend, clock)
    worker.acquire()
    clock.advance(0.001)
    worker.on_success()
    worker.acquire()
    sent = backend.state(worker.key)[0].last_sent
    clock.advance(0.02)
    worker.on_rate_limited(None)  # refused: the API admitted nothing to keep a gap from
    assert backend.state(worker.key)[0].last_sent == sent
    bursting = SharedRateLimiter(MemoryBackend(now=clock), "conn:burst", TWENTY, 5, monotonic=clock)
    bursting.acquire()
    clock.advance(0.02)
    bursting.on_success()
    assert bursting.backend.state("conn:burst")[0].last_sent == pytest.approx(clock.now - 0.02)


def test_a_429_with_retry_after_or_a_policy_is_never_the_pacings_own(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock)
    worker.on_rate_limited(None, policy_interval=0.05)
    assert worker.interval == pytest.approx(0.051 / 0.9)


def test_without_adaptive_a_pacing_429_still_widens_the_margin(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock, adaptive=False)
    worker.on_rate_limited(None)
    assert worker.interval == pytest.approx(0.051 * 1.02)
    worker.on_rate_limited(None)  # not the pacing's own: without adaptive, the rate holds
    assert worker.interval == pytest.approx(0.051 * 1.02)
    clock.advance(Aimd().quiet * worker.interval + 0.001)
    worker.on_rate_limited(None)  # after a quiet stretch, the margin widens again
    assert worker.interval == pytest.approx(0.051 * 1.02**2)


def test_a_spent_quota_raises_quota_exhausted_naming_it_and_reserves_nothing(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = paced(backend, clock, QUOTA)
    for _ in range(100):
        worker.acquire(max_wait=30)
    before = backend.state(worker.key)[0]
    clock.sleeps.clear()
    with pytest.raises(QuotaExhausted) as raised:
        worker.acquire(max_wait=30)
    error = raised.value
    assert isinstance(error, RateLimited)
    assert (error.quota, error.used, error.capacity) == ("100/3600s", pytest.approx(100, abs=1), 100)
    # the quota paces at 36 s + 2%: its first unit leaks out 36.72 s after the first request,
    # and 99 slots of 51 ms have passed since
    assert error.retry_after == pytest.approx(36 * 1.02 - 99 * 0.051)
    assert "quota 100/3600s" in str(error)
    assert "reopens in 32 s" in str(error)
    assert backend.state(worker.key)[0] == before
    assert clock.sleeps == []


def test_the_apis_count_sets_the_quota_window(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = paced(backend, clock, QUOTA)
    worker.on_quota(95, 100, 3600, source="salesforce")
    assert worker.usage()[1].used == pytest.approx(95)
    for _ in range(5):
        worker.acquire(max_wait=30)
    with pytest.raises(QuotaExhausted):
        worker.acquire(max_wait=30)


def test_a_contradicting_quota_holds_the_stricter_and_is_logged_once(
    backend: MemoryBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    worker = paced(backend, clock, QUOTA)
    with caplog.at_level(logging.WARNING):
        worker.on_quota(10, 50, 3600, source="ratelimit")  # 40 left by the API, 90 by our count
        worker.on_quota(11, 50, 3600, source="ratelimit")
    assert worker.usage()[1].used == pytest.approx(100 - 39)
    assert [r.getMessage() for r in caplog.records if "stricter" in r.getMessage()] == [
        "ratelimit reports a quota of 50 for rate limit 'conn:api' where 100/3600s is configured; "
        "the stricter holds"
    ]


def test_a_report_for_no_configured_quota_changes_nothing(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = paced(backend, clock, QUOTA)
    worker.on_quota(40, 40, 20, source="shopify")  # a 20 s bucket: no such window here
    assert worker.usage()[1].used == 0


def test_each_key_has_its_own_limit(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = paced(backend, clock)
    general, random = worker.for_key("C01"), worker.for_key("C02")
    assert worker.for_key("C01") is general
    assert (general.acquire(), random.acquire(), general.acquire()) == pytest.approx((0.0, 0.0, 0.051))
    assert general.key == "conn:api:C01"


def test_a_request_costing_ten_delays_the_next_by_ten_slots(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = paced(backend, clock)
    assert worker.acquire(cost=10) == 0.0
    assert worker.acquire() == pytest.approx(10 * 0.051)


@pytest.mark.parametrize("cost", [0, -1, float("nan"), True, "3"])
def test_a_cost_must_be_a_positive_number(backend: MemoryBackend, clock: FakeClock, cost: object) -> None:
    with pytest.raises(ConfigurationError, match="request cost must be a number > 0"):
        paced(backend, clock).acquire(cost=cost)  # type: ignore[arg-type]
