"""The retry policy of one request, as small tenacity strategies.

- wait (:class:`FullJitterBackoff`): exponential backoff with full jitter, capped, and never
  shorter than the wait the API asked for;
- stop (:class:`StopAfterRetriesOrDeadline`): after ``max_retries`` retries, or when the next
  wait would end past the deadline;
- retry (:class:`RetryTransient`): only :class:`TransientError`, only requests that are safe to
  send twice, and only waits short enough to sleep: a longer one is re-raised so the operator
  can defer to the triggerer (:meth:`RetrySettings.must_defer`).

Clocks, sleeps and the random source are injectable, so tests never sleep.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tenacity
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from reliable_api.exceptions import RateLimited, TransientError
from reliable_api.http.settings import HttpSettings

log = logging.getLogger(__name__)

#: Methods that RFC 9110 defines as idempotent: sending them twice has the effect of once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Seconds one request may spend on retries when the caller names no deadline.
DEFAULT_DEADLINE = 300.0
# Where the stop strategy keeps the start of the current call (tenacity's per-call statistics).
_STARTED_AT = "reliable_api_started_at"


@dataclass(frozen=True)
class RetrySettings:
    """How one request is retried.

    :param max_retries: retries after the first attempt (0: never retry).
    :param backoff_base: the first backoff ceiling in seconds; it doubles with each retry.
    :param backoff_cap: the largest backoff ceiling in seconds.
    :param deadline: seconds from the first attempt after which no retry starts; ``None``: none.
    :param defer_after: a wait the API asks for that is longer than this is not slept in-process.
    :param max_retry_after: the cap on a wait the API asks for (see :func:`classify_response`).
    :param paced: a shared limiter takes the next slot before each attempt: a 429 is retried at
        once, and the limiter waits for the pause or the next slot (a backoff would waste slots).
        Such retries are bounded by the deadline, not by ``max_retries`` (unless 0): each waits
        its turn.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    deadline: float | None = DEFAULT_DEADLINE
    defer_after: float = 30.0
    max_retry_after: float = 3600.0
    paced: bool = False

    @classmethod
    def from_http_settings(
        cls, settings: HttpSettings, *, deadline: float | None = DEFAULT_DEADLINE
    ) -> RetrySettings:
        """Take the retry settings of a ``reliable_http`` connection.

        :param settings: the connection's validated settings.
        :param deadline: the deadline, which is not a connection setting.
        """
        return cls(
            max_retries=settings.max_retries,
            backoff_base=settings.backoff_base,
            backoff_cap=settings.backoff_cap,
            deadline=deadline,
            defer_after=settings.defer_after,
            max_retry_after=settings.max_retry_after,
        )

    def must_defer(self, error: BaseException) -> bool:
        """Whether ``error`` asks for a wait too long to sleep in a worker slot.

        True for a :class:`RateLimited` whose wait passes ``defer_after``, or reaches
        ``max_retry_after``: a wait at the cap stands for a longer one the API asked for.
        """
        wait = error.retry_after if isinstance(error, RateLimited) else None
        return wait is not None and (wait > self.defer_after or wait >= self.max_retry_after)


@dataclass(frozen=True)
class RetryEvent:
    """A retry about to happen, for counters and logs.

    :param attempt: the number of the attempt that failed (1 for the first).
    :param wait: seconds until the next attempt.
    :param error: why the attempt failed; its URL is redacted.
    """

    attempt: int
    wait: float
    error: TransientError


def backoff_delay(
    attempt: int, *, base: float, cap: float, random_fraction: float, retry_after: float | None = None
) -> float:
    """Return the wait before the retry that follows failed attempt number ``attempt``.

    Full jitter: ``random_fraction * min(cap, base * 2 ** (attempt - 1))``, so that clients that
    failed together do not come back together; never less than ``retry_after``.

    :param attempt: the failed attempt's number, from 1.
    :param base: the first ceiling.
    :param cap: the largest ceiling.
    :param random_fraction: a number in ``[0, 1)``.
    :param retry_after: the wait the API asked for, if any.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))  # the exponent bound keeps it finite
    return max(random_fraction * ceiling, retry_after or 0.0)


def is_replayable(method: str, headers: Mapping[str, str] | None) -> bool:
    """Whether a request is safe to send again: an idempotent method, or an ``Idempotency-Key``."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(name.lower() == "idempotency-key" and value for name, value in (headers or {}).items())


class FullJitterBackoff(wait_base):
    """Tenacity wait: :func:`backoff_delay` for the attempt, honouring a :class:`RateLimited` wait.

    :param base: the first backoff ceiling in seconds.
    :param cap: the largest backoff ceiling in seconds.
    :param rng: returns a number in ``[0, 1)``.
    :param paced: no wait after a :class:`RateLimited` (see :attr:`RetrySettings.paced`).
    """

    def __init__(
        self, *, base: float, cap: float, rng: Callable[[], float] = random.random, paced: bool = False
    ) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng
        self.paced = paced

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        """Return the seconds to wait before the next attempt."""
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if self.paced and isinstance(error, RateLimited):
            return 0.0
        return backoff_delay(
            retry_state.attempt_number,
            base=self.base,
            cap=self.cap,
            random_fraction=self.rng(),
            retry_after=error.retry_after if isinstance(error, RateLimited) else None,
        )


class StopAfterRetriesOrDeadline(stop_base):
    """Tenacity stop: after ``max_retries`` retries, or when the next wait would pass the deadline.

    The deadline counts from the first attempt, which :meth:`start` marks; install it as the
    ``before`` hook (:func:`build_retrying` does).

    :param max_retries: retries after the first attempt.
    :param deadline: seconds from the first attempt; ``None``: no deadline.
    :param clock: monotonic seconds.
    :param paced: a :class:`RateLimited` attempt does not count against ``max_retries`` (unless
        that is 0: never retry).
    """

    def __init__(
        self,
        *,
        max_retries: int,
        deadline: float | None,
        clock: Callable[[], float] = time.monotonic,
        paced: bool = False,
    ) -> None:
        self.max_retries = max_retries
        self.deadline = deadline
        self.clock = clock
        self.paced = paced
        self._paced_429s = 0

    def start(self, retry_state: tenacity.RetryCallState) -> None:
        """Mark the first attempt of a call (a tenacity ``before`` hook)."""
        if retry_state.attempt_number == 1:
            retry_state.retry_object.statistics[_STARTED_AT] = self.clock()

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        """Return whether to give up after the attempt that just failed."""
        if retry_state.attempt_number == 1:
            self._paced_429s = 0
        outcome = retry_state.outcome
        # max_retries=0 still means "never retry": a caller that retries on its own.
        paced = self.paced and self.max_retries > 0
        if paced and outcome is not None and isinstance(outcome.exception(), RateLimited):
            self._paced_429s += 1
        if retry_state.attempt_number - self._paced_429s > self.max_retries:
            return True
        if self.deadline is None:
            return False
        started: float = retry_state.retry_object.statistics.setdefault(_STARTED_AT, self.clock())
        return self.clock() - started + retry_state.upcoming_sleep > self.deadline


class RetryTransient(retry_base):
    """Tenacity retry predicate: transient errors of replayable requests with short waits.

    :param settings: for :meth:`RetrySettings.must_defer`.
    :param method: the request's method.
    :param headers: the request's headers (for ``Idempotency-Key``).
    """

    def __init__(self, settings: RetrySettings, *, method: str, headers: Mapping[str, str] | None) -> None:
        self.settings = settings
        self.replayable = is_replayable(method, headers)

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        """Return whether the attempt that just failed should be retried."""
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed or not self.replayable:
            return False
        error = outcome.exception()
        return isinstance(error, TransientError) and not self.settings.must_defer(error)


def build_retrying(
    settings: RetrySettings,
    *,
    method: str,
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> tenacity.Retrying:
    """Return a ``tenacity.Retrying`` for one request under ``settings``.

    The attempt raises the taxonomy's errors (:func:`classify_response`,
    :func:`classify_exception`); the last one surfaces as it is, never as tenacity's
    ``RetryError``. A :class:`RateLimited` that :meth:`RetrySettings.must_defer` surfaces at
    once, for the caller to defer::

        for attempt in build_retrying(settings, method="GET"):
            with attempt:
                number = attempt.retry_state.attempt_number
                try:
                    response = session.get(url, timeout=(connect, read))
                except requests.RequestException as exc:
                    raise classify_exception(exc, method="GET", url=url, attempts=number) from None
                error = classify_response(response, attempts=number, max_retry_after=...)
                if error:
                    raise error

    :param settings: the retry settings.
    :param method: the request's method.
    :param headers: the request's headers (an ``Idempotency-Key`` makes a POST replayable).
    :param sleep: sleeps between attempts.
    :param clock: monotonic seconds, for the deadline.
    :param rng: returns a number in ``[0, 1)``, for the jitter.
    :param on_retry: called before each sleep, e.g. to count retries.
    """
    return tenacity.Retrying(sleep=sleep, **_strategies(settings, method, headers, clock, rng, on_retry))


def build_async_retrying(
    settings: RetrySettings,
    *,
    method: str,
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> tenacity.AsyncRetrying:
    """The same policy as :func:`build_retrying`, for ``async for attempt in ...`` (triggers)."""
    return tenacity.AsyncRetrying(sleep=sleep, **_strategies(settings, method, headers, clock, rng, on_retry))


def _strategies(
    settings: RetrySettings,
    method: str,
    headers: Mapping[str, str] | None,
    clock: Callable[[], float],
    rng: Callable[[], float],
    on_retry: Callable[[RetryEvent], None] | None,
) -> dict[str, Any]:
    stop = StopAfterRetriesOrDeadline(
        max_retries=settings.max_retries, deadline=settings.deadline, clock=clock, paced=settings.paced
    )

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if not isinstance(error, TransientError):  # a caller's tenacity.TryAgain: not ours to report
            return
        event = RetryEvent(retry_state.attempt_number, retry_state.upcoming_sleep, error)
        if error.url is None:  # failed before a request was sent (the limiter's backend, say): say why
            log.warning(
                "%s request not sent (attempt %d: %s: %s); retrying in %.2f s",
                error.method or method.upper(),
                event.attempt,
                type(error).__name__,
                error,
                event.wait,
            )
        else:
            log.warning(
                "%s %s failed (attempt %d: %s, status %s); retrying in %.2f s",
                error.method or method.upper(),
                error.url,
                event.attempt,
                type(error).__name__,
                error.status,
                event.wait,
            )
        if on_retry is not None:
            on_retry(event)

    return {
        "stop": stop,
        "wait": FullJitterBackoff(
            base=settings.backoff_base, cap=settings.backoff_cap, rng=rng, paced=settings.paced
        ),
        "retry": RetryTransient(settings, method=method, headers=headers),
        "before": stop.start,
        "before_sleep": before_sleep,
        "reraise": True,
    }
