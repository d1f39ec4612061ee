"""A fake clock for the throttle unit tests; import ``clock`` as a fixture."""

from __future__ import annotations

import pytest


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
