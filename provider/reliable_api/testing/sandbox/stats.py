"""Counters that let a test see what a client did to the API (``GET /_sandbox/stats``).

Only ``/v1`` traffic is counted. Besides plain counters this tracks:

- ``creates_by_key``: creates per natural key, so that duplicates a client caused are visible;
- the largest number of requests in any 1-second sliding window, for all requests and for those
  the rate limiter admitted;
- each ``Retry-After`` promise against the next request of the same client:
  ``early_requests_after_retry_after`` counts requests that came before the time the header named.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

NANOS = 1_000_000_000
RECENT_PROMISES = 100


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


class SlidingWindowMax:
    """The largest number of events seen in any window of ``width`` nanoseconds.

    :param width: window length in nanoseconds.
    """

    def __init__(self, width: int = NANOS) -> None:
        self.width = width
        self.max = 0
        self._events: deque[int] = deque()

    def add(self, now: int) -> None:
        """Record an event at ``now`` (monotonic nanoseconds, never decreasing)."""
        self._events.append(now)
        while self._events[0] <= now - self.width:
            self._events.popleft()
        self.max = max(self.max, len(self._events))


@dataclass
class _Promise:
    at_monotonic: int
    at_wall: float


class Stats:
    """API traffic counters.

    :param monotonic: clock for windows and promises, in nanoseconds.
    :param wall: clock for the times reported, in epoch seconds.
    """

    def __init__(
        self, *, monotonic: Callable[[], int] = time.monotonic_ns, wall: Callable[[], float] = time.time
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self.requests_by_route: Counter[str] = Counter()
        self.responses_by_status: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.creates_by_key: Counter[str] = Counter()
        self.idempotent_replays = 0
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self._all = SlidingWindowMax()
        self._admitted = SlidingWindowMax()
        self._pending: dict[str, _Promise] = {}
        self._promises = 0
        self._early = 0
        self._recent: deque[dict[str, object]] = deque(maxlen=RECENT_PROMISES)

    def request(self, route: str, client: str) -> None:
        """Count an arriving request and settle the client's pending Retry-After promise.

        :param route: method and route template, e.g. ``GET /v1/contacts/{id}``.
        :param client: the client's rate-limit key label.
        """
        now, wall = self._monotonic(), self._wall()
        self.requests_by_route[route] += 1
        self.first_request_at = self.first_request_at or wall
        self.last_request_at = wall
        self._all.add(now)
        promise = self._pending.pop(client, None)
        if promise is not None:
            early = now < promise.at_monotonic
            self._early += early
            self._recent.append(
                {
                    "client": client,
                    "promised_at": _iso(promise.at_wall),
                    "next_request_at": _iso(wall),
                    "early": early,
                }
            )

    def admitted(self) -> None:
        """Count a request the rate limiter let through."""
        self._admitted.add(self._monotonic())

    def response(self, status: int) -> None:
        """Count a response by its status code."""
        self.responses_by_status[status] += 1

    def promise(self, client: str, wait: float) -> None:
        """Record that a 429 told ``client`` to wait ``wait`` seconds."""
        self._promises += 1
        self._pending[client] = _Promise(self._monotonic() + round(wait * NANOS), self._wall() + wait)

    def snapshot(self) -> dict[str, object]:
        """All counters as JSON-ready data."""
        by_class: Counter[str] = Counter()
        for status, count in self.responses_by_status.items():
            by_class[f"{status // 100}xx"] += count
        return {
            "requests_total": sum(self.requests_by_route.values()),
            "requests_by_route": dict(self.requests_by_route),
            "responses_by_status": {str(status): n for status, n in sorted(self.responses_by_status.items())},
            "responses_2xx": by_class["2xx"],
            "responses_4xx": by_class["4xx"],
            "responses_5xx": by_class["5xx"],
            "rate_limited": self.responses_by_status[429],
            "faults_injected": dict(self.faults),
            "creates_total": sum(self.creates_by_key.values()),
            "creates_by_key": dict(self.creates_by_key),
            "duplicate_creates": sum(1 for count in self.creates_by_key.values() if count > 1),
            "idempotent_replays": self.idempotent_replays,
            "max_requests_per_second": self._all.max,
            "max_admitted_per_second": self._admitted.max,
            "first_request_at": _iso(self.first_request_at) if self.first_request_at else None,
            "last_request_at": _iso(self.last_request_at) if self.last_request_at else None,
            "retry_after_promises": self._promises,
            "early_requests_after_retry_after": self._early,
            "recent_retry_after_promises": list(self._recent),
        }
