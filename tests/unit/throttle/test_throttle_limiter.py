"""SharedRateLimiter over the memory backend, on a fake clock: it never sleeps for real."""

from __future__ import annotations

import math

import pytest

from reliable_api.core.rates import Rate
from reliable_api.exceptions import ConfigurationError, RateLimited
from reliable_api.throttle.limiter import Aimd, SharedRateLimiter
from reliable_api.throttle.memory import MemoryBackend
from tests.unit.throttle.fakes import FakeClock, paused_for
from tests.unit.throttle.fakes import clock as clock

TEN_PER_SECOND = Rate(count=10, period=1)


@pytest.fixture
def backend(clock: FakeClock) -> MemoryBackend:
    return MemoryBackend(now=clock)


def limiter(backend: MemoryBackend, clock: FakeClock, **kwargs: object) -> SharedRateLimiter:
    # No pacing margin: these tests check the adaptive arithmetic in round numbers.
    options: dict[str, object] = {
        "rate": TEN_PER_SECOND,
        "burst": 1,
        "aimd": Aimd(margin=0.0, margin_step=0.0),
        **kwargs,
    }
    return SharedRateLimiter(backend, "conn:default", sleep=clock.sleep, monotonic=clock, **options)  # type: ignore[arg-type]


def test_acquire_sleeps_until_each_slot_and_counts(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = limiter(backend, clock, burst=2)
    assert [worker.acquire() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.1, 0.1])
    assert clock.sleeps == pytest.approx([0.1, 0.1])
    assert (worker.reservations, worker.throttled_seconds, worker.interval) == (4, pytest.approx(0.2), 0.1)


def test_workers_on_one_key_share_the_limit(backend: MemoryBackend, clock: FakeClock) -> None:
    one, two = limiter(backend, clock), limiter(backend, clock)
    assert (one.acquire(), two.acquire(), one.acquire()) == pytest.approx((0.0, 0.1, 0.1))


def test_beyond_max_wait_raises_rate_limited_and_reserves_nothing(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = limiter(backend, clock)
    worker.acquire()
    before = backend.state(worker.key)[0]
    with pytest.raises(RateLimited) as raised:
        worker.acquire(max_wait=0.05)
    assert raised.value.retry_after == pytest.approx(0.1)
    assert backend.state(worker.key)[0] == before
    assert (clock.sleeps, worker.reservations) == ([], 1)


@pytest.mark.parametrize("max_wait", [-1.0, math.nan])
def test_max_wait_must_be_a_non_negative_number(
    backend: MemoryBackend, clock: FakeClock, max_wait: float
) -> None:
    with pytest.raises(ConfigurationError, match="max_wait"):
        limiter(backend, clock).acquire(max_wait=max_wait)


def test_a_429_with_retry_after_pauses_every_worker(backend: MemoryBackend, clock: FakeClock) -> None:
    one, two = limiter(backend, clock, adaptive=False), limiter(backend, clock, adaptive=False)
    one.on_rate_limited(5.0)
    assert two.acquire() == pytest.approx(5.0)
    assert (one.pauses, two.interval) == (1, 0.1)


def test_a_pause_set_while_a_worker_slept_holds_it_too(backend: MemoryBackend, clock: FakeClock) -> None:
    one, two = limiter(backend, clock, adaptive=False), limiter(backend, clock, adaptive=False)
    one.acquire()

    def sleep_while_the_other_sees_a_429(seconds: float) -> None:
        if not clock.sleeps:
            one.on_rate_limited(3.0)  # at 1000.0: paused until 1003.0
        clock.sleep(seconds)

    two._sleep = sleep_while_the_other_sees_a_429
    # Slot at 1000.1 lies inside the pause: a new one at its end, 2.9 s later.
    assert two.acquire() == pytest.approx(3.0)
    assert clock.sleeps == pytest.approx([0.1, 2.9])
    assert two.pauses == 1


def test_a_pause_past_max_wait_raises_after_the_sleep_already_spent(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = limiter(backend, clock, adaptive=False), limiter(backend, clock, adaptive=False)
    one.acquire()
    two._sleep = lambda seconds: (one.on_rate_limited(60.0), clock.sleep(seconds))  # type: ignore[func-returns-value]
    with pytest.raises(RateLimited) as raised:
        two.acquire(max_wait=10.0)
    assert raised.value.retry_after == pytest.approx(59.9)


@pytest.mark.parametrize("retry_after", [None, 0.0, -5.0, math.inf, math.nan])
def test_no_usable_retry_after_sets_no_pause(
    backend: MemoryBackend, clock: FakeClock, retry_after: float
) -> None:
    worker = limiter(backend, clock, adaptive=False)
    worker.on_rate_limited(retry_after)
    assert (paused_for(backend, worker.key), worker.pauses) == (0.0, 0)


def test_plain_429s_slow_the_shared_rate_down_once_per_burst(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = limiter(backend, clock), limiter(backend, clock)
    one.acquire()
    two.acquire()
    one.on_rate_limited(None)
    two.on_rate_limited(None)  # sent at the same 0.1 s interval: the same burst
    assert backend.state(one.key)[0].interval == pytest.approx(0.1 / 0.9)
    one.acquire()
    one.on_rate_limited(None)  # sent at the slower interval and still refused: slower again
    assert one.interval == pytest.approx(0.1 / 0.9**2)
    two.acquire()
    assert two.interval == pytest.approx(0.1 / 0.9**2)


def test_the_rate_never_drops_below_min_share(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = limiter(backend, clock, aimd=Aimd(margin=0.0, margin_step=0.0, decrease=0.5, min_share=0.25))
    for _ in range(5):
        worker.acquire()
        worker.on_rate_limited(None)
    assert worker.interval == pytest.approx(0.4)


def test_success_probes_back_up_additively_after_the_cooldown(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = limiter(
        backend,
        clock,
        aimd=Aimd(margin=0.0, margin_step=0.0, decrease=0.5, increase=0.1, increase_cooldown=4.0),
    )
    worker.acquire()
    worker.on_rate_limited(None)  # 10/s -> 5/s
    clock.advance(3.9)
    worker.on_success()
    assert worker.interval == pytest.approx(0.2)
    clock.advance(1.0)  # the limiter asks the backend four times per cooldown
    worker.on_success()  # +10% of the target rate: 5/s -> 6/s
    assert 1 / worker.interval == pytest.approx(6.0)
    for _ in range(10):
        clock.advance(4.0)
        worker.on_success()
    assert worker.interval == pytest.approx(0.1)  # the configured rate, never faster


def test_probes_are_shared_once_per_cooldown(backend: MemoryBackend, clock: FakeClock) -> None:
    aimd = Aimd(margin=0.0, margin_step=0.0, decrease=0.5, increase=0.1, increase_cooldown=4.0)
    workers = [limiter(backend, clock, aimd=aimd) for _ in range(8)]
    workers[0].acquire()
    workers[0].on_rate_limited(None)
    clock.advance(4.0)
    for worker in workers:
        worker.acquire()
        worker.on_success()
    assert 1 / backend.state(workers[0].key)[0].interval == pytest.approx(6.0)  # type: ignore[operator]


def test_an_announced_slower_policy_is_adopted_by_every_worker(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    one, two = limiter(backend, clock, rate=Rate(100, 1)), limiter(backend, clock, rate=Rate(100, 1))
    one.acquire()
    one.on_success(policy_interval=1 / 50)
    two.acquire()
    assert two.acquire() == pytest.approx(0.02 / 0.98)  # the policy less the 2% headroom


def test_a_faster_announced_policy_never_speeds_up_past_the_configured_rate(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = limiter(backend, clock)
    worker.acquire()
    worker.on_success(policy_interval=1 / 1000)
    assert (worker.interval, backend.state(worker.key)[0].interval) == (0.1, None)


def test_probing_stops_at_the_announced_policy(backend: MemoryBackend, clock: FakeClock) -> None:
    aimd = Aimd(margin=0.0, margin_step=0.0, decrease=0.5, increase=1.0, increase_cooldown=0.0, headroom=0.0)
    worker = limiter(backend, clock, rate=Rate(100, 1), aimd=aimd)
    worker.acquire()
    worker.on_success(policy_interval=1 / 50)  # 100/s -> 50/s
    worker.acquire()
    worker.on_rate_limited(None, policy_interval=1 / 50)  # 50/s -> 25/s
    assert worker.interval == pytest.approx(0.04)
    for _ in range(3):
        worker.on_success(policy_interval=1 / 50)
    assert worker.interval == pytest.approx(0.02)


def test_remaining_zero_pauses_until_the_reset_less_the_header_uncertainty(
    backend: MemoryBackend, clock: FakeClock
) -> None:
    worker = limiter(backend, clock)
    worker.on_success(remaining=0, reset_after=1.0)  # "1 s" may be 20 ms: no pause
    worker.on_success(remaining=0, reset_after=2.0)  # an epoch reset against a rounded Date: same
    assert paused_for(backend, worker.key) == 0.0
    worker.on_success(remaining=3, reset_after=30.0)
    assert paused_for(backend, worker.key) == 0.0
    worker.on_success(remaining=0, reset_after=30.0)
    assert (paused_for(backend, worker.key), worker.pauses) == (28.0, 1)


def test_not_adaptive_keeps_the_configured_rate(backend: MemoryBackend, clock: FakeClock) -> None:
    worker = limiter(backend, clock, adaptive=False)
    worker.acquire()
    worker.on_rate_limited(None)
    worker.on_success(policy_interval=1.0, remaining=0, reset_after=30.0)
    assert backend.state(worker.key)[0].interval is None
    assert paused_for(backend, worker.key) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"key": ""}, "key"),
        ({"burst": 0}, "burst"),
        ({"burst": True}, "burst"),
        ({"burst": 1.5}, "burst"),
        ({"rate": "10/s"}, "rate"),
    ],
)
def test_bad_arguments_name_themselves(backend: MemoryBackend, kwargs: dict[str, object], named: str) -> None:
    arguments: dict[str, object] = {"key": "k", "rate": TEN_PER_SECOND, "burst": 1, **kwargs}
    with pytest.raises(ConfigurationError, match=named):
        SharedRateLimiter(backend, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"decrease": 1.0},
        {"decrease": 0.0},
        {"increase": 0.0},
        {"increase_cooldown": -1.0},
        {"min_share": 2.0},
        {"headroom": 1.0},
    ],
)
def test_aimd_out_of_range_names_the_value(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match=f"Aimd.{next(iter(kwargs))}"):
        Aimd(**kwargs)
