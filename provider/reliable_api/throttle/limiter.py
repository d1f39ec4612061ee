"""``SharedRateLimiter``: what a hook calls before each request and after each response.

One limiter per (connection, limit key) and worker; every worker's limiter on the same key and
backend shares one state, so together they keep the API's limit. Pacing is for strict limiters
(nginx ``limit_req`` without ``burst`` refuses a request one millisecond early by its clock):

- slots are spaced a ``margin`` wider than the configured interval, and before sending, a
  worker confirms with the backend that the last request was *actually sent* at least a
  ``guard`` ago (a worker that woke late must not leave the next one early); an answer that
  came back late moves that send later (``Aimd.hold``): the API may have read it late;
- a 429 without Retry-After after a quiet stretch is the pacing's own (jitter on a busy
  machine): the shared interval widens by ``margin_step`` and the request is retried at the next
  slot. A 429 for a request sent after a slow-down (by any worker: each sees it in its next
  reservation) means the rate itself is wrong: multiplicative decrease;
- the guard is also a share of the interval in force when the request is confirmed, so a slot
  reserved before a slow-down goes at the slower pace.

Adaptive mode moves the shared rate by what the API answers:

- a 429 slows the shared rate down (from the rate the request was sent at, so the 429s of one
  burst count once) and, with a Retry-After, pauses every worker;
- a 2xx whose headers announce a slower policy than configured makes that policy (less a small
  headroom) the rate at once; ``increase_cooldown`` seconds after the last change, a success
  probes the rate back up by a share of the target (additive increase), never above the
  configured rate less the margin, or the policy.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from reliable_api.core.rates import Rate
from reliable_api.exceptions import ConfigurationError, RateLimited
from reliable_api.throttle.aimd import DEFAULT_AIMD, Aimd
from reliable_api.throttle.base import LimiterBackend, Window, WindowUsage, window_usage
from reliable_api.throttle.errors import QuotaExhausted
from reliable_api.throttle.windows import build_windows, describe

log = logging.getLogger(__name__)

#: How far a ``reset`` read from headers may overstate the real one: headers count whole seconds
#: rounded up (a ``reset`` of 1 may mean 20 ms), and an epoch reset is measured against the
#: ``Date`` header, itself rounded down to the second: two seconds in all.
RESET_UNCERTAINTY = 2.0

# How many times per increase_cooldown a worker asks the backend whether a probe up is due.
_PROBE_ASKS = 4

# Intervals closer than this (relatively) are the same: 1/50 from a header vs. 0.02 configured.
_SAME = 1e-9


class SharedRateLimiter:
    """Space one worker's requests on a limit that every worker shares.

    :param backend: where the shared state lives (see :func:`~reliable_api.throttle.make_backend`).
    :param key: the limit's key, e.g. ``"<conn_id>:<limit key>"``.
    :param rate: the configured rate of the first window; adaptive mode never goes faster.
    :param burst: requests allowed at once by it (>= 1).
    :param windows: all the windows, when there are several (:func:`build_windows`); the first
        must be ``rate`` and ``burst``. Default: ``rate`` alone.
    :param adaptive: follow the API's 429s and headers (see the module docstring).
    :param aimd: how adaptive mode moves the rate, and the pacing margin.
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
        burst: int = 1,
        *,
        windows: Sequence[Window] | None = None,
        adaptive: bool = True,
        aimd: Aimd = DEFAULT_AIMD,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"limiter key must be a non-empty string, got {key!r}")
        if not isinstance(rate, Rate):
            raise ConfigurationError(f"rate must be a Rate (see parse_rate), got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be an integer >= 1, got {burst!r}")
        self.windows = tuple(windows) if windows else build_windows([rate], burst=burst)
        self.backend = backend
        self.key = key
        self.rate = rate
        self.burst = burst
        self.adaptive = adaptive
        self.aimd = aimd
        self._sleep = sleep
        self._monotonic = monotonic
        self._floor = rate.interval * (1 + aimd.margin)
        # The windows as the backend paces them: rolling ones a margin slower (a strict limiter
        # counts arrivals, which jitter makes early), calendar counts as they are.
        self._paced = tuple(
            window
            if window.calendar_offset is not None
            else replace(window, count=window.count / (1 + aimd.margin))
            for window in self.windows
        )
        self._interval = self._floor
        self._last_probe = -math.inf
        # When this worker last saw the limit slow down (its own 429s, or in a reservation).
        self._slowed_at = -math.inf
        # Its last request: when it asked to send it (local clock) and when it went (backend's
        # clock; 0 once answered); its fastest answer since asking, the floor of the round trip.
        self._asked = 0.0
        self._sent_at = 0.0
        self._fastest = math.inf
        self._siblings: dict[str, SharedRateLimiter] = {}
        self._warned: set[tuple[str, float]] = set()
        self.throttled_seconds = 0.0
        self.reservations = 0
        self.pauses = 0

    @property
    def interval(self) -> float:
        """Seconds between requests on this limit, as last seen in force."""
        return self._interval

    def for_key(self, value: str) -> SharedRateLimiter:
        """The limiter of the same limit for one key of it (a Slack channel, a tenant), cached."""
        sibling = self._siblings.get(value)
        if sibling is None:
            sibling = SharedRateLimiter(
                self.backend,
                f"{self.key}:{value}",
                self.rate,
                self.burst,
                windows=self.windows,
                adaptive=self.adaptive,
                aimd=self.aimd,
                sleep=self._sleep,
                monotonic=self._monotonic,
            )
            self._siblings[value] = sibling
        return sibling

    def acquire(self, *, max_wait: float = math.inf, cost: float = 1.0) -> float:
        """Block until a slot (sleeping via the injected sleep); return seconds waited.

        If the next slot is further than ``max_wait``, nothing is reserved and
        :class:`~reliable_api.exceptions.RateLimited` is raised with ``retry_after`` set to the
        wait, so that the caller can defer (:class:`QuotaExhausted` when a quota window binds).
        A pause that another worker set while this one slept holds it too: it takes a new slot
        after the pause.

        :param cost: units the request takes in every window.
        :raises RateLimited: when no slot comes within ``max_wait`` seconds.
        :raises ConfigurationError: when ``max_wait`` is negative or not a number, or ``cost``
            is not a positive number. A cost above a window's capacity goes when the window is
            empty and delays the requests after it.
        """
        if not max_wait >= 0:
            raise ConfigurationError(f"max_wait must be >= 0 seconds, got {max_wait!r}")
        self._check_cost(cost)
        waited = 0.0
        while True:
            reservation = self.backend.reserve(
                self.key, windows=self._paced, cost=cost, max_wait=max_wait - waited
            )
            self._seen(reservation.interval)
            self._interval = reservation.interval
            if not reservation.granted:
                raise self._no_slot(reservation.wait, reservation.window, max_wait)
            self.reservations += 1
            if reservation.wait > 0:
                self._sleep(reservation.wait)
                waited += reservation.wait
                self.throttled_seconds += reservation.wait
            paused, guarded = self._confirm()
            waited += guarded
            if not paused:
                return waited
            self.pauses += 1

    def _confirm(self) -> tuple[bool, float]:
        """Hold the request until the last send is a guard ago: ``(paused, seconds waited)``."""
        # Requests of a burst go at once; the guard is for limits that refuse them.
        share = 1 - self.aimd.margin / 2 if self.burst == 1 else 0.0
        waited = 0.0
        while True:
            asked = self._monotonic()
            confirmation = self.backend.confirm(self.key, guard=self._interval * share, share=share)
            self._seen(confirmation.interval)
            if confirmation.paused_for > 0:
                return True, waited
            if confirmation.wait <= 0:
                self._asked, self._sent_at = asked, confirmation.sent_at
                return False, waited
            self._sleep(confirmation.wait)
            waited += confirmation.wait
            self.throttled_seconds += confirmation.wait

    def _hold_after_a_late_answer(self) -> None:
        """Hold the next send by how much later than the fastest this request's answer came.

        The answer bounds when the API read the request: one that took longer than the round
        trip's floor may have been read that much late, and the next send must keep its gap
        from that reading, not from our send (nginx on a busy machine reads its clock late).
        """
        if self.burst != 1 or not self._sent_at:
            return
        took = self._monotonic() - self._asked
        self._fastest = min(self._fastest, took)
        late = min(took - self._fastest, self.aimd.hold * self._interval)
        # Below this the guard's own tolerance covers it; a round trip is not worth it.
        if late > self.rate.interval * self.aimd.margin / 4:
            self.backend.hold(self.key, until=self._sent_at + late)
        self._sent_at = 0.0

    def _seen(self, interval: float) -> None:
        """Note the interval in force as the backend answered, and when it last slowed down."""
        if interval > self._interval * (1 + _SAME):
            self._slowed_at = self._monotonic()
            self._interval = interval

    def _check_cost(self, cost: float) -> None:
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 < cost < math.inf:
            raise ConfigurationError(f"request cost must be a number > 0, got {cost!r}")

    def _no_slot(self, wait: float, window: int, max_wait: float) -> RateLimited:
        message = f"rate limit {self.key!r} ({self.rate}) has no free slot within {max_wait:g} s"
        if window <= 0:
            return RateLimited(f"{message} (next in {wait:.3f} s)", retry_after=wait)
        usage = self.usage()[window]
        quota = describe(self.windows[window])
        return QuotaExhausted(
            f"quota {quota} of rate limit {self.key!r} is spent "
            f"({usage.used:.0f} of {usage.capacity:g} used); it reopens in {wait:.0f} s",
            retry_after=wait,
            quota=quota,
            used=usage.used,
            capacity=usage.capacity,
            window=window,
        )

    def claim_alert(self, spent: QuotaExhausted) -> bool:
        """Whether this worker is the one to alert that a quota is spent, once until it reopens.

        A slot of a one-unit window as long as the wait, on the same backend: the first worker
        to ask gets it, every other worker is refused until the quota reopens.
        """
        seconds = max(1.0, spent.retry_after or 0.0)
        once = Window(count=1, period=seconds, burst=1)
        key = f"{self.key}:alerted:{spent.window}"
        return self.backend.reserve(key, windows=(once,), cost=1, max_wait=0).granted

    def usage(self) -> list[WindowUsage]:
        """Each window's use now, from the shared state: what the health page shows."""
        state, now = self.backend.state(self.key)
        return window_usage(state, now=now, windows=self._paced)

    def on_quota(self, used: float, limit: float, period: float | None, *, source: str) -> None:
        """Set a quota window's shared count from the API's own (vendor quota headers).

        The report goes to the window of the same period (within 10%), or to the longest when
        the vendor names none; the pacing window is adaptive mode's. A limit that contradicts
        the configured count is logged once; the stricter of the two holds.
        """
        quotas = range(1, len(self.windows))
        matching = [
            i for i in quotas if period is None or abs(self.windows[i].period - period) <= 0.1 * period
        ]
        if not matching:
            return
        index = matching[-1]
        window = self.windows[index]
        if limit != window.count and (source, limit) not in self._warned:
            self._warned.add((source, limit))
            log.warning(
                "%s reports a quota of %g for rate limit %r where %s is configured; the stricter holds",
                source,
                limit,
                self.key,
                describe(window),
            )
        remaining = min(window.count, max(0.0, limit - used))
        self.backend.sync(self.key, windows=self._paced, index=index, used=window.count - remaining)

    def on_rate_limited(self, retry_after: float | None, *, policy_interval: float | None = None) -> None:
        """Report a 429: pause every worker for ``retry_after`` and, when adaptive, slow down.

        :param retry_after: the response's Retry-After in seconds, capped by the caller; ``None``,
            non-positive or non-finite values set no pause.
        :param policy_interval: seconds per request by the API's announced policy, when known.
        """
        # The pacing's own: no Retry-After, no policy, and no slow-down seen within a quiet
        # stretch (a request sent after one and still refused says the rate is wrong).
        now = self._monotonic()
        own = (
            retry_after is None
            and policy_interval is None
            and now - self._slowed_at >= self.aimd.quiet * self._interval
            and self.aimd.margin_step > 0
        )
        if _usable(retry_after):
            assert retry_after is not None
            self.backend.pause(self.key, seconds=retry_after)
            self.pauses += 1
        if not self.adaptive and not own:
            return
        # Slow down from the interval this worker's request was sent at, not from the one in
        # force: when other workers' 429s of the same burst already slowed the limit down,
        # max(current, slower) changes nothing, so one burst of 429s counts once. A probe up
        # that came just before cannot block the decrease either.
        target = self._target(policy_interval)
        factor = 1 + self.aimd.margin_step if own else 1 / self.aimd.decrease
        slower = max(target, self._interval * factor)
        before, self._interval = (
            self._interval,
            self.backend.adjust(
                self.key, interval=slower, factor=1.0, ceiling=self._ceiling(target), cooldown=0.0
            ),
        )
        if self._interval > before * (1 + _SAME):
            self._slowed_at = now

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
        self._hold_after_a_late_answer()
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
        """The shortest interval allowed: the configured one with the margin, or the policy less headroom."""
        if _usable(policy_interval):
            assert policy_interval is not None
            return max(self._floor, policy_interval / (1 - self.aimd.headroom))
        return self._floor

    def _ceiling(self, target: float) -> float:
        return max(target, self._floor / self.aimd.min_share)


def _usable(seconds: float | None) -> bool:
    return seconds is not None and 0 < seconds < math.inf
