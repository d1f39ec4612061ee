"""Server-side rate limiting: GCRA per key, exact, with an injectable clock.

GCRA (generic cell rate algorithm) keeps one number per key, the theoretical arrival time (TAT)
of the next request. Over any interval of length ``D`` starting from an idle key it admits exactly
``burst + floor(D * rate)`` requests. Times are integer nanoseconds so that long runs do not
accumulate floating point drift.

The sandbox serves from one asyncio event loop and :meth:`GcraLimiter.acquire` never awaits, so a
decision and its state update cannot interleave with another request's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

NANOS = 1_000_000_000


@dataclass(frozen=True)
class RateDecision:
    """The limiter's answer for one request.

    :param allowed: whether the request is admitted.
    :param remaining: requests that would be admitted right now after this one.
    :param reset_after: seconds until the key's full burst is available again.
    :param retry_after: seconds until a denied request would be admitted (0 when allowed).
    """

    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float


@dataclass(frozen=True)
class QuotaPolicy:
    """The limit as a quota per window, as ``RateLimit-Policy`` and ``X-RateLimit-Limit`` state it.

    :param quota: requests per window.
    :param window: window length in whole seconds.
    """

    quota: int
    window: int

    @classmethod
    def for_rate(cls, rate: float) -> QuotaPolicy:
        """The shortest whole-second window in which ``rate`` makes a whole number of requests.

        E.g. 50/s -> 50 per 1 s, 0.5/s -> 1 per 2 s, 2.5/s -> 5 per 2 s. Rates with no such
        window up to an hour are rounded to a quota per second.
        """
        for window in range(1, 3601):
            quota = rate * window
            if quota >= 1 and abs(quota - round(quota)) < 1e-6:
                return cls(quota=round(quota), window=window)
        return cls(quota=max(1, round(rate)), window=1)


class GcraLimiter:
    """Per-key GCRA limiter.

    :param rate: admitted requests per second (> 0).
    :param burst: requests admitted at once from an idle key (>= 1).
    :param clock: monotonic time in nanoseconds; tests pass a fake one.
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], int] = time.monotonic_ns) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"GCRA needs rate > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate = rate
        self.burst = burst
        self.policy = QuotaPolicy.for_rate(rate)
        self._interval = max(1, round(NANOS / rate))
        self._capacity = burst * self._interval
        self._clock = clock
        self._tat: dict[str, int] = {}

    def acquire(self, key: str) -> RateDecision:
        """Admit or deny one request for ``key`` and update its state when admitted.

        :param key: the client's rate-limit key (API key or an anonymous bucket).
        """
        now = self._clock()
        tat = max(self._tat.get(key, now), now)
        next_tat = tat + self._interval
        allowed_from = next_tat - self._capacity
        if now < allowed_from:
            return RateDecision(
                allowed=False,
                remaining=0,
                reset_after=(tat - now) / NANOS,
                retry_after=(allowed_from - now) / NANOS,
            )
        self._tat[key] = next_tat
        remaining = (self._capacity - (next_tat - now)) // self._interval
        return RateDecision(
            allowed=True, remaining=remaining, reset_after=(next_tat - now) / NANOS, retry_after=0.0
        )
