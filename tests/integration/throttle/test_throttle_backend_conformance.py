"""Every backend decides as base.py's pure functions do: one scenario, the same answers.

Calendar windows are checked against the wall clock in ``test_throttle_calendar_windows.py``:
here the memory backend's clock is frozen at a moment that is no calendar boundary of theirs.

The expected answers come from the memory backend on a frozen clock. Postgres and Redis use their
server's clock, which moves during the scenario: their waits match within a tolerance far below
the scenario's one-second interval, and their grants match exactly.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from reliable_api.throttle.base import Confirmation, LimiterBackend, LimiterState, Reservation, Window
from reliable_api.throttle.memory import MemoryBackend
from tests.integration.throttle.backends import SHARED_BACKENDS
from tests.integration.throttle.backends import backend as backend
from tests.integration.throttle.backends import key as key
from tests.integration.throttle.backends import make as make

PACE = Window(count=1, period=1, burst=3)  # 1 s apart, 3 at once
QUOTA = Window(count=5, period=100, burst=5)  # 5 at once, then one per 20 s
BOTH = {"windows": (PACE, QUOTA)}
ONE = {"windows": (PACE,), "cost": 1}
SCENARIO: list[tuple[str, dict[str, Any]]] = [
    ("reserve", {**BOTH, "cost": 1, "max_wait": 0}),
    ("reserve", {**BOTH, "cost": 1, "max_wait": 0}),
    ("reserve", {**BOTH, "cost": 1, "max_wait": 0}),
    ("reserve", {**BOTH, "cost": 1, "max_wait": 0.5}),  # next slot in 1 s: refused
    ("reserve", {**BOTH, "cost": 1, "max_wait": math.inf}),
    ("reserve", {**BOTH, "cost": 2, "max_wait": math.inf}),  # the quota binds: 20 s
    ("reserve", {**BOTH, "cost": 1, "max_wait": 0}),  # refused: takes nothing from either window
    ("confirm", {"guard": 0.5}),
    ("confirm", {"guard": 0.5}),  # sent 0 s ago: wait
    ("hold", {"until": 0.0}),  # never earlier
    ("sync", {**BOTH, "index": 1, "used": 2}),  # the API counts 2 used: the quota frees up
    ("reserve", {**BOTH, "cost": 1, "max_wait": math.inf}),  # now the pacing window binds
    ("pause", {"seconds": 30.0}),
    ("pause", {"seconds": 1.0}),  # never shortens the longer pause
    ("reserve", {**ONE, "max_wait": 5.0}),  # the pause binds
    ("reserve", {**ONE, "max_wait": math.inf}),  # keeps the quota's TAT
    ("confirm", {"guard": 0.0}),  # paused
    ("adjust", {"interval": 1.0, "factor": 2.0, "ceiling": 8.0, "cooldown": 0.0}),
    ("adjust", {"interval": 1.0, "factor": 2.0, "ceiling": 8.0, "cooldown": 60.0}),  # within the cooldown
    ("reserve", {**ONE, "max_wait": math.inf}),
    ("adjust", {"interval": 1.0, "factor": 100.0, "ceiling": 8.0, "cooldown": 0.0}),  # capped
    ("adjust", {"interval": 1.0, "factor": 0.001, "ceiling": 8.0, "cooldown": 0.0}),  # floored
    ("adjust", {"interval": 3.0, "factor": 1.0, "ceiling": 3.0, "cooldown": 0.0}),  # a slower policy
    ("confirm", {"guard": 0.5, "share": 0.5}),  # guarded by half the adaptive 3 s in force
    ("reserve", {**ONE, "max_wait": math.inf}),
    ("state", {}),
]


def play(backend: LimiterBackend, key: str) -> list[Any]:
    answers: list[Any] = []
    for operation, arguments in SCENARIO:
        answer = getattr(backend, operation)(key, **arguments)
        if isinstance(answer, Reservation):
            answer = (answer.granted, answer.wait, answer.interval, answer.window)
        elif isinstance(answer, Confirmation):  # sent_at is on each backend's own clock
            answer = (answer.paused_for, answer.wait, answer.interval, answer.sent_at > 0)
        elif operation == "state":
            state: LimiterState = answer[0]
            paused = state.paused_until
            answer = (state.tat(0) - paused, state.tat(1) - paused, state.interval, state.last_sent - paused)
        answers.append(answer)
    return answers


def flat(answers: list[Any]) -> list[Any]:
    return [part for answer in answers for part in (answer if isinstance(answer, tuple) else (answer,))]


def test_the_scenario_exercises_every_decision() -> None:
    expected = play(MemoryBackend(now=lambda: 1_000.0), "k")
    assert expected == [
        (True, 0.0, 1.0, -1),
        (True, 0.0, 1.0, -1),
        (True, 0.0, 1.0, -1),
        (False, 1.0, 1.0, 0),
        (True, 1.0, 1.0, 0),
        (True, 20.0, 1.0, 1),
        (False, 40.0, 1.0, 1),
        (0.0, 0.0, 0.0, True),
        (0.0, 0.5, 0.0, False),
        None,
        None,
        (True, 20.0, 1.0, 0),
        None,
        None,
        (False, 30.0, 1.0, -1),
        (True, 30.0, 1.0, -1),
        (30.0, 0.0, 0.0, False),
        2.0,
        2.0,
        (True, 30.0, 2.0, -1),
        8.0,
        1.0,
        3.0,
        (30.0, 1.5, 3.0, False),
        (True, 30.0, 3.0, -1),
        (6.0, 30.0, 3.0, -30.0),
    ]


@pytest.mark.parametrize("make", ["memory", *SHARED_BACKENDS], indirect=True)
def test_backend_decides_as_the_pure_functions(backend: LimiterBackend, key: str) -> None:
    expected = play(MemoryBackend(now=lambda: 1_000.0), key)
    assert flat(play(backend, key)) == pytest.approx(flat(expected), abs=0.2)


@pytest.mark.parametrize("make", ["memory", *SHARED_BACKENDS], indirect=True)
def test_a_hold_moves_the_last_send_later_on_every_backend(backend: LimiterBackend, key: str) -> None:
    sent = backend.confirm(key, guard=0.1).sent_at
    assert sent > 0
    backend.hold(key, until=sent + 0.5)
    backend.hold(key, until=sent)  # never earlier
    answer = backend.confirm(key, guard=0.1)
    assert (answer.sent_at, answer.wait) == (0.0, pytest.approx(0.6, abs=0.2))
