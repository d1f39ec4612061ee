"""Calendar windows and request costs on every backend, against the wall clock of its server."""

from __future__ import annotations

import math
import time

import pytest

from reliable_api.throttle.base import LimiterBackend, Window
from tests.integration.throttle.backends import SHARED_BACKENDS
from tests.integration.throttle.backends import backend as backend
from tests.integration.throttle.backends import key as key
from tests.integration.throttle.backends import make as make

PACE = Window(count=100, period=1, burst=100)
HOURLY = Window(count=3, period=3600, burst=3, calendar_offset=0.0)


@pytest.mark.parametrize("make", ["memory", *SHARED_BACKENDS], indirect=True)
def test_a_spent_calendar_window_reopens_at_the_next_hour(backend: LimiterBackend, key: str) -> None:
    for _ in range(3):
        assert backend.reserve(key, windows=(PACE, HOURLY), cost=1, max_wait=0).granted
    refused = backend.reserve(key, windows=(PACE, HOURLY), cost=1, max_wait=0)
    to_the_hour = 3600 - time.time() % 3600
    assert (refused.granted, refused.window) == (False, 1)
    # The server's clock and ours agree within a second or two; a boundary just passed would
    # have reopened the window (then the refusal above would not have happened).
    assert refused.wait == pytest.approx(to_the_hour, abs=2.0)


@pytest.mark.parametrize("make", ["memory", *SHARED_BACKENDS], indirect=True)
def test_a_request_costing_more_than_a_window_holds_goes_when_it_is_empty(
    backend: LimiterBackend, key: str
) -> None:
    bulk = backend.reserve(key, windows=(PACE, HOURLY), cost=5, max_wait=0)
    after = backend.reserve(key, windows=(PACE, HOURLY), cost=1, max_wait=math.inf)
    assert bulk.granted
    # the bulk's units count in full: the window is over its count until the next hour
    assert (after.granted, after.window) == (True, 1)
    assert after.wait == pytest.approx(3600 - time.time() % 3600, abs=2.0)
