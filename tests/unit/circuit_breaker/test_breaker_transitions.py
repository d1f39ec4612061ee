"""The breaker's transitions as pure functions: when it opens, waits, probes and closes."""

from __future__ import annotations

from typing import Any

import pytest

from reliable_api.exceptions import ConfigurationError, NetworkError, RateLimited, RecordRejected, ServerError
from reliable_api.hooks.breaker import connection_breaker
from reliable_api.http.circuit_breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerChange,
    BreakerSettings,
    CircuitBreaker,
    CircuitOpen,
    admit,
    counts_against,
    record,
)
from reliable_api.http.settings import HttpSettings
from reliable_api.http.shared_state import MemoryState

SETTINGS = BreakerSettings(failures=3, open_seconds=30, probe_seconds=5)


def run(
    outcomes: list[bool], settings: BreakerSettings = SETTINGS, start: float = 0.0
) -> tuple[list[Any], Any]:
    state, changes = None, []
    for n, ok in enumerate(outcomes):
        change, new = record(state, start + n, ok, settings)
        state = new if new is not None else state
        changes.append(change)
    return changes, state


def test_consecutive_failures_open_it_once() -> None:
    changes, state = run([False, False, True, False, False, False])
    assert changes == [None, None, None, None, None, "opened"]
    assert (state["mode"], state["open_until"]) == (OPEN, 5 + 30)


def test_while_open_requests_wait_for_the_time_left_then_one_probes() -> None:
    _, state = run([False] * 3)  # opened at t=2, until 32
    assert admit(state, 10.0, SETTINGS) == (22.0, None)
    wait, probing = admit(state, 32.0, SETTINGS)
    assert (wait, probing["mode"], probing["probe_until"]) == (0.0, HALF_OPEN, 37.0)
    assert admit(probing, 33.0, SETTINGS)[0] == 4.0  # the others wait for the probe
    assert admit(probing, 37.5, SETTINGS)[0] == 0.0  # a probe that never reported is replaced


def test_a_probe_closes_it_or_opens_it_again_without_a_second_alert() -> None:
    _, state = run([False] * 3)
    _, probing = admit(state, 40.0, SETTINGS)
    assert record(probing, 41.0, True, SETTINGS) == ("closed", {"mode": CLOSED, "failures": 0, "events": []})
    change, again = record(probing, 41.0, False, SETTINGS)
    assert (change, again["mode"], again["open_until"]) == (None, OPEN, 71.0)


def test_late_outcomes_while_open_change_nothing() -> None:
    _, state = run([False] * 3)
    assert record(state, 4.0, True, SETTINGS) == (None, None)


def test_an_error_ratio_over_the_window_opens_it() -> None:
    settings = BreakerSettings(failures=0, error_ratio=0.5, window=10, min_requests=6)
    changes, _ = run([True, False, True, False, False, True, False], settings)
    assert changes[-1] == "opened"  # 4 of 7 failed
    changes, _ = run([True, False] * 10, settings)
    assert "opened" not in changes  # half: not over the ratio
    changes, _ = run([False, False, True, False], settings)
    assert "opened" not in changes  # too few attempts to judge


def test_old_outcomes_leave_the_window() -> None:
    settings = BreakerSettings(failures=0, error_ratio=0.5, window=10, min_requests=4)
    state: Any = None
    for moment, ok in [(0, False), (1, False), (2, False), (20, True), (21, True), (22, False), (23, True)]:
        change, state = record(state, moment, ok, settings)
        assert change is None
    assert len(state["events"]) == 4


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (ServerError("503", status=503), True),
        (NetworkError("reset"), True),
        (RateLimited("503 with Retry-After", retry_after=5, status=503), True),
        (RateLimited("429", retry_after=5, status=429), False),
        (CircuitOpen("open", retry_after=5), False),
        (RecordRejected("422", status=422), False),
    ],
)
def test_what_counts_as_an_outage(error: Exception, counts: bool) -> None:
    assert counts_against(error) is counts


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"breaker_failures": -1}, "breaker_failures"),
        ({"breaker_error_ratio": 1.5}, "breaker_error_ratio"),
        ({"breaker_open_seconds": 0}, "breaker_open_seconds"),
        ({"breaker_window": "soon"}, "breaker_window"),
        ({"breaker_min_requests": 2.5}, "breaker_min_requests"),
    ],
)
def test_a_setting_out_of_range_names_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        HttpSettings.from_extra(extra)
    with pytest.raises(ConfigurationError, match="breaker_failures"):
        BreakerSettings(failures=-1)


def test_the_breaker_is_off_unless_configured() -> None:
    assert connection_breaker("crm", HttpSettings()) is None
    settings = HttpSettings.from_extra(
        {"breaker_failures": "5", "breaker_open_seconds": "90", "limiter_backend": "memory"}
    )
    breaker = connection_breaker("crm", settings)
    assert breaker is not None
    assert (breaker.settings.failures, breaker.settings.open_seconds) == (5, 90.0)


def test_the_breaker_raises_a_long_wait_and_tells_each_change_once() -> None:
    now = [0.0]
    changes: list[BreakerChange] = []
    breaker = CircuitBreaker(MemoryState(), "crm", SETTINGS, on_change=changes.append, clock=lambda: now[0])
    for _ in range(5):
        breaker.record(ServerError("503", status=503))
    breaker.record(RecordRejected("422", status=422))  # not an outage's
    with pytest.raises(CircuitOpen) as raised:
        breaker.admit()
    assert raised.value.retry_after == 30.0
    assert isinstance(raised.value, RateLimited)  # operators defer on it like any long wait
    now[0] = 31.0
    breaker.admit()  # the probe
    breaker.record(None)
    assert breaker.state() == CLOSED
    assert [change.change for change in changes] == ["opened", "closed"]
