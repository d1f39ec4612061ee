"""The contract every limiter backend keeps, and the GCRA arithmetic they share.

The limiter is GCRA (the generic cell rate algorithm) with reservations: each admitted request
moves the limit's theoretical arrival time (TAT) one emission interval further, so requests from
any number of processes are spaced exactly, with ``burst`` requests allowed at once. One atomic
backend operation per request: read the state, decide, write the state.

Besides the TAT, the shared state of a limit holds:

- ``paused_until``: set when one worker sees a 429 with Retry-After; every worker waits for it;
- ``interval``: the adaptive emission interval, when adaptive mode has slowed the limit down
  (never shorter than the configured one).

Backends use their own server's clock where they have one (Redis ``TIME``, Postgres
``clock_timestamp()``), so that workers on machines with skewed clocks still agree; waits are
returned as durations, which do not depend on whose clock measured them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Reservation:
    """The answer to one :meth:`LimiterBackend.reserve`.

    :param granted: a slot was reserved: send the request after ``wait`` seconds.
    :param wait: seconds until the slot; when not granted, seconds until one could be granted.
    :param interval: the emission interval in force (the adaptive one, when slowed down).
    """

    granted: bool
    wait: float
    interval: float


@dataclass(frozen=True)
class LimiterState:
    """The shared state of one limit, as stored by a backend (times on the backend's clock)."""

    tat: float = 0.0
    paused_until: float = 0.0
    interval: float | None = None
    interval_changed_at: float = 0.0


def gcra_reserve(
    state: LimiterState, *, now: float, interval: float, burst: int, max_wait: float
) -> tuple[Reservation, LimiterState]:
    """Decide one reservation; return it with the state to store (unchanged when not granted).

    :param now: the backend's current time, in seconds.
    :param interval: the configured emission interval (seconds per request).
    :param burst: requests allowed at once (>= 1).
    :param max_wait: the longest wait the caller accepts; a longer one is not reserved, so a
        caller that defers instead of sleeping holds no slot it will not use.
    """
    effective = max(interval, state.interval or interval)
    tat = max(state.tat, now, state.paused_until)
    allowed_at = max(tat - (burst - 1) * effective, state.paused_until)
    wait = max(0.0, allowed_at - now)
    if wait > max_wait:
        return Reservation(granted=False, wait=wait, interval=effective), state
    new_state = LimiterState(
        tat=tat + effective,
        paused_until=state.paused_until,
        interval=state.interval,
        interval_changed_at=state.interval_changed_at,
    )
    return Reservation(granted=True, wait=wait, interval=effective), new_state


def gcra_pause(state: LimiterState, *, now: float, seconds: float) -> LimiterState:
    """Return ``state`` paused for ``seconds`` from ``now`` (an earlier pause never shortens it)."""
    return LimiterState(
        tat=state.tat,
        paused_until=max(state.paused_until, now + seconds),
        interval=state.interval,
        interval_changed_at=state.interval_changed_at,
    )


def gcra_adjust(
    state: LimiterState, *, now: float, interval: float, factor: float, ceiling: float, cooldown: float
) -> LimiterState:
    """Multiply the adaptive interval by ``factor``, at most once per ``cooldown`` seconds.

    ``factor > 1`` slows the limit down (on 429); ``factor < 1`` probes back up. The result stays
    between ``interval`` and ``ceiling``. The cooldown keeps eight workers that see the same burst
    of 429s from halving the rate eight times.

    :param interval: the shortest interval allowed: the configured one, or the API's announced
        policy when that is slower. The result is stored even when it equals ``interval``, so a
        policy slower than the configured rate holds for every worker (``gcra_reserve`` only
        knows the configured interval).
    """
    if now - state.interval_changed_at < cooldown:
        return state
    current = max(interval, state.interval or interval)
    return LimiterState(
        tat=state.tat,
        paused_until=state.paused_until,
        interval=min(ceiling, max(interval, current * factor)),
        interval_changed_at=now,
    )


class LimiterBackend(Protocol):
    """Where the shared state of every limit lives; every method is one atomic update."""

    def reserve(self, key: str, *, interval: float, burst: int, max_wait: float) -> Reservation:
        """Reserve the next slot of limit ``key`` if it comes within ``max_wait`` seconds."""
        ...

    def pause(self, key: str, *, seconds: float) -> None:
        """Hold every worker of limit ``key`` for ``seconds`` (a 429's Retry-After)."""
        ...

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """Apply :func:`gcra_adjust` to limit ``key``; return the interval now in force."""
        ...

    def paused_for(self, key: str) -> float:
        """Seconds until the pause of limit ``key`` ends (0 when not paused), on the backend's clock.

        A worker that slept until its slot asks this before sending: a pause that another worker
        set meanwhile must hold it too, although its slot was reserved before the pause.
        """
        ...

    def state(self, key: str) -> LimiterState:
        """The stored state of limit ``key`` (for monitoring and tests)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
