"""``SharedRateLimiter``: what a hook calls before each request and after each response.

One limiter per (connection, limit key) and worker; every worker's limiter on the same key and
backend shares one state, so together they keep the API's limit. Adaptive mode moves the shared
rate by what the API answers:

- a 429 slows the shared rate down (multiplicative decrease from the rate the request was sent
  at, so the 429s of one burst count once) and, with a Retry-After, pauses every worker;
- a 2xx whose headers announce a slower policy than configured makes that policy (less a small
  headroom) the rate at once; ``increase_cooldown`` seconds after the last change, a success
  probes the rate back up by a share of the target (additive increase), never above the
  configured rate or the policy.

This works from plain 429s alone (a proxy that sends no headers): AIMD finds the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from reliable_api.exceptions import ConfigurationError, RateLimited
from reliable_api.throttle.base import LimiterBackend
from reliable_api.throttle.rate import Rate

#: How far a ``reset`` read from headers may overstate the real one: headers count whole seconds
#: rounded up (a ``reset`` of 1 may mean 20 ms), and an epoch reset is measured against the
#: ``Date`` header, itself rounded down to the second: two seconds in all.
RESET_UNCERTAINTY = 2.0

# How many times per increase_cooldown a worker asks the backend whether a probe up is due.
_PROBE_ASKS = 4

# Intervals closer than this (relatively) are the same: 1/50 from a header vs. 0.02 configured.
_SAME = 1e-9


@dataclass(frozen=True)
class Aimd:
    """How adaptive mode moves the shared rate.

    :param decrease: multiply the rate by this on a 429 (between 0 and 1).
    :param increase: after ``increase_cooldown`` seconds, add this share of the target rate.
    :param increase_cooldown: seconds between two probes up.
    :param min_share: the rate never drops below this share of the configured rate.
    :param headroom: keep this share below a policy the API announces. An API that enforces
        its rate with no tolerance (burst 1) answers 429 to two requests that arrive a little
        closer than the interval, as scheduling jitter makes them at exactly its rate.
    :raises ConfigurationError: naming the value out of range.
    """

    decrease: float = 0.9
    increase: float = 0.01
    increase_cooldown: float = 4.0
    min_share: float = 1 / 64
    headroom: float = 0.02

    def __post_init__(self) -> None:
        checks = {
            "decrease": 0 < self.decrease < 1,
            "increase": 0 < self.increase < math.inf,
            "increase_cooldown": 0 <= self.increase_cooldown < math.inf,
            "min_share": 0 < self.min_share <= 1,
            "headroom": 0 <= self.headroom < 1,
        }
        for name, valid in checks.items():
            if not valid:
                raise ConfigurationError(f"Aimd.{name} is out of range: {getattr(self, name)!r}")


class SharedRateLimiter:
    """Space one worker's requests on a limit that every worker shares.

    :param backend: where the shared state lives (see :func:`~reliable_api.throttle.make_backend`).
    :param key: the limit's key, e.g. ``"<conn_id>:<limit key>"``.
    :param rate: the configured rate; adaptive mode never goes faster.
    :param burst: requests allowed at once (>= 1).
    :param adaptive: follow the API's 429s and headers (see the module docstring).
    :param aimd: how adaptive mode moves the rate.
    :param sleep: how to wait; tests pass one that records instead of sleeping.
    :param monotonic: the local clock for the probe cooldown; tests pass a fake one.
    :raises ConfigurationError: naming the argument that is invalid.

    Counters, for monitoring: :attr:`throttled_seconds` slept for a slot, :attr:`reservations`
    of slots, :attr:`pauses` set by this limiter or found when its slot came, and
    :attr:`interval`, the interval in force as last seen.
    """

    def __init__(
        self,
        backend: LimiterBackend,
        key: str,
        rate: Rate,
        burst: int,
        *,
        adaptive: bool = True,
        aimd: Aimd = Aimd(),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"limiter key must be a non-empty string, got {key!r}")
        if not isinstance(rate, Rate):
            raise ConfigurationError(f"rate must be a Rate (see parse_rate), got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be an integer >= 1, got {burst!r}")
        self.backend = backend
        self.key = key
        self.rate = rate
        self.burst = burst
        self.adaptive = adaptive
        self.aimd = aimd
        self._sleep = sleep
        self._monotonic = monotonic
        self._interval = rate.interval
        self._last_probe = -math.inf
        self.throttled_seconds = 0.0
        self.reservations = 0
        self.pauses = 0

    @property
    def interval(self) -> float:
        """Seconds between requests on this limit, as last seen in force."""
        return self._interval

    def acquire(self, *, max_wait: float = math.inf) -> float:
        """Block until a slot (sleeping via the injected sleep); return seconds waited.

        If the next slot is further than ``max_wait``, nothing is reserved and
        :class:`~reliable_api.exceptions.RateLimited` is raised with ``retry_after`` set to the
        wait, so that the caller can defer. A pause that another worker set while this one
        slept holds it too: it takes a new slot after the pause.

        :raises RateLimited: when no slot comes within ``max_wait`` seconds.
        :raises ConfigurationError: when ``max_wait`` is negative or not a number.
        """
        if not max_wait >= 0:
            raise ConfigurationError(f"max_wait must be >= 0 seconds, got {max_wait!r}")
        waited = 0.0
        while True:
            reservation = self.backend.reserve(
                self.key, interval=self.rate.interval, burst=self.burst, max_wait=max_wait - waited
            )
            self._interval = reservation.interval
            if not reservation.granted:
                raise RateLimited(
                    f"rate limit {self.key!r} ({self.rate}) has no free slot within {max_wait:g} s "
                    f"(next in {reservation.wait:.3f} s)",
                    retry_after=reservation.wait,
                )
            self.reservations += 1
            if reservation.wait <= 0:
                return waited
            self._sleep(reservation.wait)
            waited += reservation.wait
            self.throttled_seconds += reservation.wait
            if self.backend.paused_for(self.key) <= 0:
                return waited
            self.pauses += 1

    def on_rate_limited(self, retry_after: float | None, *, policy_interval: float | None = None) -> None:
        """Report a 429: pause every worker for ``retry_after`` and, when adaptive, slow down.

        :param retry_after: the response's Retry-After in seconds, capped by the caller; ``None``,
            non-positive or non-finite values set no pause.
        :param policy_interval: seconds per request by the API's announced policy, when known.
        """
        if _usable(retry_after):
            assert retry_after is not None
            self.backend.pause(self.key, seconds=retry_after)
            self.pauses += 1
        if self.adaptive:
            # Slow down from the interval this worker's request was sent at, not from the one in
            # force: when other workers' 429s of the same burst already slowed the limit down,
            # max(current, slower) changes nothing, so one burst of 429s counts once. A probe
            # up that came just before cannot block the decrease either.
            target = self._target(policy_interval)
            slower = max(target, self._interval / self.aimd.decrease)
            self._interval = self.backend.adjust(
                self.key, interval=slower, factor=1.0, ceiling=self._ceiling(target), cooldown=0.0
            )

    def on_success(
        self,
        *,
        policy_interval: float | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
    ) -> None:
        """Report a 2xx; when adaptive, follow its rate-limit headers and probe the rate up.

        :param policy_interval: seconds per request by the API's announced policy
            (``RateLimit-Policy`` w/q, or ``X-RateLimit-Limit`` over its window), when known.
        :param remaining: requests left in the API's window, when announced.
        :param reset_after: seconds until the window resets, when announced. With
            ``remaining == 0`` every worker pauses until then, less :data:`RESET_UNCERTAINTY`:
            the header rounds up to whole seconds, and honouring a ``reset`` of 1 in full
            would cap a 50/s API with burst 1 (always ``remaining = 0``) at 1 request per second.
        """
        if not self.adaptive:
            return
        if remaining == 0 and _usable(reset_after):
            assert reset_after is not None
            if reset_after > RESET_UNCERTAINTY:
                self.backend.pause(self.key, seconds=reset_after - RESET_UNCERTAINTY)
                self.pauses += 1
        target = self._target(policy_interval)
        if self._interval < target * (1 - _SAME):
            # The API announces a slower rate than ours: adopt it for every worker at once.
            self._interval = self.backend.adjust(
                self.key, interval=target, factor=1.0, ceiling=target, cooldown=0.0
            )
        elif self._interval > target * (1 + _SAME) and self._probe_due():
            # Additive increase: rate + increase * target rate, written as a factor on the interval.
            self._interval = self.backend.adjust(
                self.key,
                interval=target,
                factor=1 / (1 + self.aimd.increase * self._interval / target),
                ceiling=self._ceiling(target),
                cooldown=self.aimd.increase_cooldown,
            )

    def _probe_due(self) -> bool:
        # The backend enforces the shared cooldown, counted from any worker's change; asking it a
        # few times per cooldown instead of at every 2xx saves a round trip per request.
        now = self._monotonic()
        if now - self._last_probe < self.aimd.increase_cooldown / _PROBE_ASKS:
            return False
        self._last_probe = now
        return True

    def _target(self, policy_interval: float | None) -> float:
        """The shortest interval allowed: the configured one, or the policy less headroom if slower."""
        if _usable(policy_interval):
            assert policy_interval is not None
            return max(self.rate.interval, policy_interval / (1 - self.aimd.headroom))
        return self.rate.interval

    def _ceiling(self, target: float) -> float:
        return max(target, self.rate.interval / self.aimd.min_share)


def _usable(seconds: float | None) -> bool:
    return seconds is not None and 0 < seconds < math.inf
