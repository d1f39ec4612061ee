from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import (
    InFlightConflict,
    NetworkError,
    RateLimited,
    RecordRejected,
    ReliableApiError,
    ServerError,
    TransientError,
)
from reliable_api.http.retry import (
    RetryEvent,
    RetrySettings,
    backoff_delay,
    build_async_retrying,
    build_retrying,
    is_replayable,
)
from reliable_api.http.settings import HttpSettings

URL = "https://api.example.com/v1/items?token=SECRET"
# Half jitter of ceilings 2, 4, 8, ... makes the waits 1, 2, 4, ... exactly.
SETTINGS = RetrySettings(max_retries=3, backoff_base=2.0, backoff_cap=200.0, deadline=None, defer_after=30.0)


@dataclass
class FakeTime:
    """A monotonic clock that only moves when something sleeps or works."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def server_error() -> ServerError:
    return ServerError("boom", status=503, method="GET", url=URL)


def run(
    retrying: tenacity.Retrying, outcomes: Iterable[object], *, work: float = 0.0, time: FakeTime
) -> object:
    """Call an attempt that yields ``outcomes`` in turn (raising exceptions), ``work`` s each."""
    pending = iter(outcomes)

    def attempt() -> object:
        time.now += work
        outcome = next(pending)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return retrying(attempt)


def retrying_for(
    settings: RetrySettings = SETTINGS,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> tuple[tenacity.Retrying, FakeTime]:
    time = FakeTime()
    retrying = build_retrying(
        settings,
        method=method,
        headers=headers,
        sleep=time.sleep,
        clock=time.clock,
        rng=lambda: 0.5,
        on_retry=on_retry,
    )
    return retrying, time


@pytest.mark.parametrize(
    ("attempt", "fraction", "retry_after", "expected"),
    [
        (1, 0.5, None, 0.25),
        (2, 0.5, None, 0.5),
        (4, 1.0, None, 4.0),
        (10, 1.0, None, 60.0),  # capped
        (10_000, 1.0, None, 60.0),  # no overflow
        (3, 0.0, None, 0.0),
        (1, 0.5, 7.5, 7.5),  # never before the API's wait
        (9, 0.5, 7.5, 30.0),
        (1, 0.5, 600.0, 600.0),  # the API's wait is not cut by the backoff cap
    ],
)
def test_backoff_delay(attempt: int, fraction: float, retry_after: float | None, expected: float) -> None:
    delay = backoff_delay(attempt, base=0.5, cap=60.0, random_fraction=fraction, retry_after=retry_after)
    assert delay == expected


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=1e6),
    cap=st.floats(min_value=0, max_value=1e6),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e7),
)
def test_backoff_delay_stays_within_bounds(
    attempt: int, base: float, cap: float, fraction: float, retry_after: float | None
) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, random_fraction=fraction, retry_after=retry_after)
    if retry_after is None:
        assert 0 <= delay <= cap
    else:
        assert retry_after <= delay <= max(cap, retry_after)


def test_transient_errors_are_retried_until_success() -> None:
    retrying, time = retrying_for()
    assert run(retrying, [server_error(), NetworkError("reset"), "ok"], time=time) == "ok"
    assert time.sleeps == [1.0, 2.0]


def test_after_max_retries_the_last_error_surfaces_itself() -> None:
    retrying, time = retrying_for()
    last = server_error()
    with pytest.raises(ServerError) as caught:
        run(retrying, [server_error(), server_error(), server_error(), last], time=time)
    assert caught.value is last
    assert time.sleeps == [1.0, 2.0, 4.0]


def test_zero_retries_means_one_attempt() -> None:
    retrying, time = retrying_for(RetrySettings(max_retries=0))
    with pytest.raises(ServerError):
        run(retrying, [server_error()], time=time)
    assert time.sleeps == []


@pytest.mark.parametrize("error", [RecordRejected("no"), ReliableApiError("?"), KeyError("bug")])
def test_other_errors_are_not_retried(error: BaseException) -> None:
    retrying, time = retrying_for()
    with pytest.raises(type(error)):
        run(retrying, [error, "ok"], time=time)
    assert time.sleeps == []


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", None, True),
        ("delete", None, True),
        ("PUT", {}, True),
        ("HEAD", None, True),
        ("OPTIONS", None, True),
        ("POST", None, False),
        ("PATCH", {"X-Request-Id": "1"}, False),
        ("POST", {"idempotency-key": ""}, False),
        ("POST", {"Idempotency-Key": "k-1"}, True),
        ("patch", {"IDEMPOTENCY-KEY": "k-1"}, True),
    ],
)
def test_is_replayable(method: str, headers: dict[str, str] | None, expected: bool) -> None:
    assert is_replayable(method, headers) is expected


def test_a_post_is_retried_only_with_an_idempotency_key() -> None:
    retrying, time = retrying_for(method="POST")
    with pytest.raises(ServerError):
        run(retrying, [server_error(), "ok"], time=time)
    retrying, time = retrying_for(method="POST", headers={"Idempotency-Key": "k-1"})
    in_flight = InFlightConflict("409", status=409)
    assert run(retrying, [in_flight, server_error(), "ok"], time=time) == "ok"


def test_the_api_wait_is_honoured_when_short() -> None:
    retrying, time = retrying_for()
    assert run(retrying, [RateLimited("429", retry_after=12.0), "ok"], time=time) == "ok"
    assert time.sleeps == [12.0]


@pytest.mark.parametrize(
    ("settings", "retry_after"),
    [
        (SETTINGS, 30.5),  # longer than defer_after
        (RetrySettings(defer_after=30.0, max_retry_after=10.0), 10.0),  # at the cap: capped, so long
    ],
)
def test_a_long_wait_surfaces_at_once_for_deferral(settings: RetrySettings, retry_after: float) -> None:
    retrying, time = retrying_for(settings)
    error = RateLimited("429", retry_after=retry_after)
    with pytest.raises(RateLimited) as caught:
        run(retrying, [error, "ok"], time=time)
    assert caught.value is error
    assert time.sleeps == []
    assert settings.must_defer(error)


def test_must_defer() -> None:
    settings = RetrySettings(defer_after=30.0, max_retry_after=3600.0)
    assert not settings.must_defer(RateLimited("429", retry_after=30.0))
    assert not settings.must_defer(RateLimited("429"))
    assert not settings.must_defer(server_error())
    assert settings.must_defer(RateLimited("429", retry_after=3600.0))


def test_the_deadline_stops_before_a_wait_that_would_pass_it() -> None:
    settings = RetrySettings(max_retries=10, backoff_base=2.0, backoff_cap=200.0, deadline=10.0)
    retrying, time = retrying_for(settings)
    with pytest.raises(ServerError):
        run(retrying, [server_error()] * 11, time=time)
    # 1 + 2 + 4 = 7 s slept; the next 8 s would end at 15 s.
    assert time.sleeps == [1.0, 2.0, 4.0]


def test_the_deadline_counts_the_attempts_too() -> None:
    settings = RetrySettings(max_retries=10, backoff_base=2.0, backoff_cap=200.0, deadline=10.0)
    retrying, time = retrying_for(settings)
    with pytest.raises(ServerError):
        run(retrying, [server_error()] * 11, work=3.0, time=time)
    # Attempts fail at 3 s, 7 s (after 1 s of sleep) and 12 s (after 2 s): 12 + 4 passes 10.
    assert time.sleeps == [1.0, 2.0]


def test_a_reused_retrying_starts_a_new_deadline_per_call() -> None:
    settings = RetrySettings(max_retries=10, backoff_base=2.0, backoff_cap=200.0, deadline=10.0)
    retrying, time = retrying_for(settings)
    for _ in range(2):
        time.sleeps.clear()
        with pytest.raises(ServerError):
            run(retrying, [server_error()] * 11, time=time)
        assert time.sleeps == [1.0, 2.0, 4.0]


def test_on_retry_and_the_log_see_each_retry_with_the_url_redacted(caplog: pytest.LogCaptureFixture) -> None:
    events: list[RetryEvent] = []
    retrying, time = retrying_for(on_retry=events.append)
    first, second = server_error(), RateLimited("429", retry_after=5.0, status=429, url=URL)
    with caplog.at_level(logging.WARNING, logger="reliable_api.http.retry"):
        run(retrying, [first, second, "ok"], time=time)
    assert events == [RetryEvent(1, 1.0, first), RetryEvent(2, 5.0, second)]
    assert "retrying in 5.00 s" in caplog.text
    assert "token=***" in caplog.text
    assert "SECRET" not in caplog.text


def test_a_failure_before_sending_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    retrying, time = retrying_for(method="post", headers={"Idempotency-Key": "k"})
    backend_down = TransientError("limiter backend redis at redis://127.0.0.1:1/0 failed: Connection refused")
    with caplog.at_level(logging.WARNING, logger="reliable_api.http.retry"):
        run(retrying, [backend_down, "ok"], time=time)
    assert "POST request not sent (attempt 1: TransientError: limiter backend redis" in caplog.text
    assert "?" not in caplog.text


def test_from_http_settings() -> None:
    http = HttpSettings.from_extra(
        {"max_retries": "2", "backoff_base": 1, "defer_after": 5, "max_retry_after": 60}
    )
    assert RetrySettings.from_http_settings(http, deadline=None) == RetrySettings(
        max_retries=2,
        backoff_base=1.0,
        backoff_cap=60.0,
        deadline=None,
        defer_after=5.0,
        max_retry_after=60.0,
    )


def test_async_retrying_follows_the_same_policy() -> None:
    time = FakeTime()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.now += seconds

    async def main() -> int:
        retrying = build_async_retrying(
            SETTINGS, method="GET", sleep=sleep, clock=time.clock, rng=lambda: 0.25
        )
        attempts = 0
        async for attempt in retrying:
            with attempt:
                attempts += 1
                if attempts < 3:
                    raise server_error()
        return attempts

    assert asyncio.run(main()) == 3
    assert slept == [0.5, 1.0]


def test_a_callers_try_again_is_retried_but_not_reported_as_a_failure() -> None:
    events: list[RetryEvent] = []
    retrying, time = retrying_for(on_retry=events.append)
    assert run(retrying, [tenacity.TryAgain(), "ok"], time=time) == "ok"
    assert events == []
