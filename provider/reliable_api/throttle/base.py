"""The contract every limiter backend keeps, and the GCRA arithmetic they share.

A limit is one or more windows (``"25/s, 100000/d"``); a request of cost ``c`` needs ``c`` units in
every window, reserved atomically, so a slot refused by one window takes nothing from the others.
Each window keeps one number, its theoretical arrival time (TAT):

- a *rolling* window is GCRA (a leaky bucket, as nginx ``limit_req`` and Shopify count): each unit
  moves the TAT one emission interval further, ``burst`` units are allowed at once;
- a *calendar* window counts units since the window began (midnight in a time zone, the start of
  the hour): the TAT is the window's start plus one interval per unit used, and resets with it.

The first window paces requests; only it follows adaptive mode. Besides the TATs, the shared
state of a limit holds:

- ``paused_until``: set when one worker sees a 429 with Retry-After; every worker waits for it;
- ``interval``: the adaptive emission interval of the first window, when adaptive mode has slowed
  it down (never shorter than the configured one);
- ``last_sent``: when the last request was actually sent. GCRA spaces *scheduled* times; a worker
  that woke late would leave the next request early, which a strict limiter (nginx without
  ``burst``) refuses. :func:`gcra_confirm` holds a request until ``guard`` seconds after it, and
  :func:`gcra_hold` moves it later when an answer says the request may have arrived late.

Backends use their own server's clock where they have one (Redis ``TIME``, Postgres
``clock_timestamp()``), so that workers on machines with skewed clocks still agree; waits are
returned as durations, which do not depend on whose clock measured them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

#: Float slack when comparing a calendar window's count with its capacity.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Window:
    """One window of a limit: ``count`` units per ``period`` seconds.

    :param burst: units allowed at once (a rolling window); a calendar window allows its count.
    :param calendar_offset: ``None`` for a rolling window; else the window resets at every
        multiple of ``period`` in local time, this many seconds east of UTC (3600 for Paris in
        winter), e.g. at local midnight for a period of a day.
    """

    count: float
    period: float
    burst: float = 1.0
    calendar_offset: float | None = None

    @property
    def interval(self) -> float:
        """Seconds per unit (GCRA's emission interval)."""
        return self.period / self.count

    def start(self, now: float) -> float:
        """The start of the calendar window holding ``now``."""
        offset = self.calendar_offset or 0.0
        return math.floor((now + offset) / self.period) * self.period - offset


@dataclass(frozen=True)
class Reservation:
    """The answer to one :meth:`LimiterBackend.reserve`.

    :param granted: a slot was reserved: send the request after ``wait`` seconds.
    :param wait: seconds until the slot; when not granted, seconds until one could be granted.
    :param interval: the first window's emission interval in force (the adaptive one, if slowed).
    :param window: the index of the window that set the wait (-1: a pause, or no wait).
    """

    granted: bool
    wait: float
    interval: float
    window: int = -1


@dataclass(frozen=True)
class Confirmation:
    """The answer to one :meth:`LimiterBackend.confirm`.

    :param paused_for: > 0: a pause began after the slot was reserved; take a new slot after it.
    :param wait: > 0: the last request was sent less than the guard ago; wait, then confirm again.
    :param interval: the adaptive interval in force (0 when adaptive mode never set one), so the
        worker knows the pace its request goes at.
    :param sent_at: when both are 0, the request's send as recorded (the backend's clock); else 0.
    """

    paused_for: float
    wait: float
    interval: float
    sent_at: float = 0.0


@dataclass(frozen=True)
class LimiterState:
    """The shared state of one limit, as stored by a backend (times on the backend's clock)."""

    tats: tuple[float, ...] = ()
    paused_until: float = 0.0
    interval: float | None = None
    interval_changed_at: float = 0.0
    last_sent: float = 0.0

    def tat(self, index: int) -> float:
        """The TAT of window ``index`` (0 when never used)."""
        return self.tats[index] if index < len(self.tats) else 0.0


@dataclass(frozen=True)
class WindowUsage:
    """How much of one window is used now, for monitoring and alerts.

    :param used: units counted in the window (rolling: not yet leaked out).
    :param capacity: units the window allows at once (its burst, or a calendar window's count).
    :param resets_in: seconds until the window is whole again.
    """

    window: Window
    used: float
    capacity: float
    resets_in: float


def _interval(window: Window, index: int, state: LimiterState) -> float:
    if index == 0:
        return max(window.interval, state.interval or window.interval)
    return window.interval


def gcra_reserve(
    state: LimiterState, *, now: float, windows: Sequence[Window], cost: float, max_wait: float
) -> tuple[Reservation, LimiterState]:
    """Decide one reservation; return it with the state to store (unchanged when not granted).

    :param now: the backend's current time, in seconds.
    :param windows: the limit's windows, the pacing one first.
    :param cost: units this request takes in every window (at most each window's capacity).
    :param max_wait: the longest wait the caller accepts; a longer one is not reserved, so a
        caller that defers instead of sleeping holds no slot it will not use.
    """
    allowed, binding = state.paused_until, -1
    for index, window in enumerate(windows):
        interval, tat = _interval(window, index, state), state.tat(index)
        # A request larger than a window's capacity goes when the window is empty, then leaves
        # the rest as debt: a bulk call worth 10 on a limit of 1 at a time delays the next one.
        if window.calendar_offset is None:
            allowed_here = max(tat, now) + (min(cost, window.burst) - window.burst) * interval
        else:
            start = window.start(now)
            full = max(tat, start) + min(cost, window.count) * interval > start + window.period + _EPSILON
            allowed_here = start + window.period if full else now
        if allowed_here > max(allowed, now):
            allowed, binding = allowed_here, index
    wait = max(0.0, allowed - now)
    first = _interval(windows[0], 0, state)
    if wait > max_wait:
        return Reservation(granted=False, wait=wait, interval=first, window=binding), state
    at = now + wait
    tats = (
        tuple(
            max(state.tat(index), at if window.calendar_offset is None else window.start(at))
            + cost * _interval(window, index, state)
            for index, window in enumerate(windows)
        )
        + state.tats[len(windows) :]
    )
    reservation = Reservation(granted=True, wait=wait, interval=first, window=binding)
    return reservation, replace(state, tats=tats)


def gcra_pause(state: LimiterState, *, now: float, seconds: float) -> LimiterState:
    """Return ``state`` paused for ``seconds`` from ``now`` (an earlier pause never shortens it)."""
    return replace(state, paused_until=max(state.paused_until, now + seconds))


def gcra_adjust(
    state: LimiterState, *, now: float, interval: float, factor: float, ceiling: float, cooldown: float
) -> LimiterState:
    """Multiply the first window's adaptive interval by ``factor``, at most once per ``cooldown``.

    ``factor > 1`` slows the limit down (on 429); ``factor < 1`` probes back up. The result stays
    between ``interval`` and ``ceiling``.

    :param interval: the shortest interval allowed: the configured one, or the API's announced
        policy when that is slower. The result is stored even when it equals ``interval``, so a
        policy slower than the configured rate holds for every worker.
    """
    if now - state.interval_changed_at < cooldown:
        return state
    current = max(interval, state.interval or interval)
    return replace(state, interval=min(ceiling, max(interval, current * factor)), interval_changed_at=now)


def gcra_confirm(
    state: LimiterState, *, now: float, guard: float, share: float = 0.0
) -> tuple[Confirmation, LimiterState]:
    """Check a request about to be sent; when it may go, ``now`` is stored as the last send.

    :param guard: seconds between two sends, as the worker knew the interval when it reserved.
    :param share: the guard is at least this share of the adaptive interval in force *now*: a
        worker that reserved before another slowed the limit down sends at the slower pace.
    """
    interval = state.interval or 0.0
    paused_for = max(0.0, state.paused_until - now)
    wait = max(0.0, state.last_sent + max(guard, share * interval) - now)
    if paused_for > 0 or wait > 0:
        return Confirmation(paused_for, wait, interval), state
    return Confirmation(0.0, 0.0, interval, sent_at=now), replace(state, last_sent=now)


def gcra_hold(state: LimiterState, *, until: float) -> LimiterState:
    """Count the last send as ``until`` at the earliest: it may have reached the API that late."""
    return replace(state, last_sent=max(state.last_sent, until))


def gcra_sync(
    state: LimiterState, *, now: float, windows: Sequence[Window], index: int, used: float
) -> LimiterState:
    """Set window ``index`` to ``used`` units, as the API counts them (the API's count wins)."""
    window = windows[index]
    base = now if window.calendar_offset is None else window.start(now)
    tats = [state.tat(i) for i in range(len(windows))]
    tats[index] = base + max(0.0, used) * _interval(window, index, state)
    return replace(state, tats=tuple(tats))


def window_usage(state: LimiterState, *, now: float, windows: Sequence[Window]) -> list[WindowUsage]:
    """Each window's use at ``now``."""
    usages = []
    for index, window in enumerate(windows):
        interval, tat = _interval(window, index, state), state.tat(index)
        if window.calendar_offset is None:
            ahead = max(0.0, tat - now)
            usages.append(WindowUsage(window, min(window.burst, ahead / interval), window.burst, ahead))
        else:
            start = window.start(now)
            used = max(0.0, tat - start) / interval
            usages.append(
                WindowUsage(window, min(window.count, used), window.count, start + window.period - now)
            )
    return usages


class LimiterBackend(Protocol):
    """Where the shared state of every limit lives; every method is one atomic update."""

    def reserve(self, key: str, *, windows: Sequence[Window], cost: float, max_wait: float) -> Reservation:
        """Reserve ``cost`` units in every window of limit ``key`` if they come within ``max_wait``."""
        ...

    def pause(self, key: str, *, seconds: float) -> None:
        """Hold every worker of limit ``key`` for ``seconds`` (a 429's Retry-After)."""
        ...

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """Apply :func:`gcra_adjust` to limit ``key``; return the interval now in force."""
        ...

    def confirm(self, key: str, *, guard: float, share: float = 0.0) -> Confirmation:
        """Apply :func:`gcra_confirm` to limit ``key``, on the backend's clock."""
        ...

    def hold(self, key: str, *, until: float) -> None:
        """Apply :func:`gcra_hold` to limit ``key`` (``until`` on the backend's clock)."""
        ...

    def sync(self, key: str, *, windows: Sequence[Window], index: int, used: float) -> None:
        """Apply :func:`gcra_sync` to limit ``key``: the API reported ``used`` units of window ``index``."""
        ...

    def state(self, key: str) -> tuple[LimiterState, float]:
        """The stored state of limit ``key`` and the backend's time (for monitoring and tests)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
