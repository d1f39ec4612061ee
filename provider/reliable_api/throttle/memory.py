"""The ``memory`` limiter backend: exact within one process, shared by its threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from reliable_api.throttle.base import LimiterState
from reliable_api.throttle.local import Decide, LocalBackend, T


class MemoryBackend(LocalBackend):
    """Limiter state in a dict, guarded by a lock.

    :param now: the clock, in seconds; tests pass a fake one. The wall clock by default:
        calendar windows reset at wall-clock times.
    """

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._states: dict[str, LimiterState] = {}

    def _update(self, key: str, decide: Decide[T]) -> T:
        with self._lock:
            answer, self._states[key] = decide(self._states.get(key, LimiterState()), self._now())
            return answer

    def _read(self, key: str) -> tuple[LimiterState, float]:
        with self._lock:
            return self._states.get(key, LimiterState()), self._now()

    def close(self) -> None:
        """Nothing to release."""
