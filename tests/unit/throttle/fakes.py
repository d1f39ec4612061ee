"""A fake clock for the throttle unit tests; import ``clock`` as a fixture."""

from __future__ import annotations

from typing import Any

import pytest

from reliable_api.throttle.base import LimiterBackend, Window


class FakeClock:
    """A clock that moves only when told; its ``sleep`` records the wait and moves the clock."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def paused_for(backend: LimiterBackend, key: str) -> float:
    """Seconds until the pause of ``key`` ends, by the backend's clock."""
    state, now = backend.state(key)
    return max(0.0, state.paused_until - now)


def single(interval: float, burst: int) -> dict[str, Any]:
    """``reserve`` arguments for one window of one request per ``interval``, ``burst`` at once."""
    return {"windows": (Window(count=1, period=interval, burst=burst),), "cost": 1}
