"""Backends that decide in Python: one of :mod:`base`'s pure functions inside one atomic update.

The memory and SQLite backends differ only in how they make a read-decide-write atomic (a lock,
an SQLite write transaction) and where the state lives; the decisions are :mod:`base`'s, so they
cannot drift from the arithmetic the Postgres and Redis backends are tested against.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeVar

from reliable_api.throttle.base import (
    Confirmation,
    LimiterState,
    Reservation,
    Window,
    gcra_adjust,
    gcra_confirm,
    gcra_hold,
    gcra_pause,
    gcra_reserve,
    gcra_sync,
)

T = TypeVar("T")

#: Decides from the stored state and the backend's time: returns the answer and the state to store.
Decide = Callable[[LimiterState, float], tuple[T, LimiterState]]


class LocalBackend(ABC):
    """A :class:`~reliable_api.throttle.base.LimiterBackend` built on two primitives."""

    @abstractmethod
    def _update(self, key: str, decide: Decide[T]) -> T:
        """Run ``decide`` on the state of ``key`` and store its new state, atomically."""

    @abstractmethod
    def _read(self, key: str) -> tuple[LimiterState, float]:
        """The stored state of ``key`` (the default one when absent) and the backend's time."""

    def reserve(self, key: str, *, windows: Sequence[Window], cost: float, max_wait: float) -> Reservation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.reserve`."""
        return self._update(
            key,
            lambda state, now: gcra_reserve(state, now=now, windows=windows, cost=cost, max_wait=max_wait),
        )

    def pause(self, key: str, *, seconds: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.pause`."""
        self._update(key, lambda state, now: (None, gcra_pause(state, now=now, seconds=seconds)))

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.adjust`."""

        def decide(state: LimiterState, now: float) -> tuple[float, LimiterState]:
            adjusted = gcra_adjust(
                state, now=now, interval=interval, factor=factor, ceiling=ceiling, cooldown=cooldown
            )
            if adjusted is state:  # within the cooldown
                return max(interval, state.interval or interval), state
            return adjusted.interval or interval, adjusted

        return self._update(key, decide)

    def confirm(self, key: str, *, guard: float, share: float = 0.0) -> Confirmation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.confirm`."""
        return self._update(key, lambda state, now: gcra_confirm(state, now=now, guard=guard, share=share))

    def hold(self, key: str, *, until: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.hold`."""
        self._update(key, lambda state, now: (None, gcra_hold(state, until=until)))

    def sync(self, key: str, *, windows: Sequence[Window], index: int, used: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.sync`."""
        self._update(
            key,
            lambda state, now: (None, gcra_sync(state, now=now, windows=windows, index=index, used=used)),
        )

    def state(self, key: str) -> tuple[LimiterState, float]:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.state`."""
        return self._read(key)
