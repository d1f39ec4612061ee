"""Every backend decides as base.py's pure functions do: one scenario, the same answers.

The expected answers come from the memory backend on a frozen clock. Postgres and Redis use their
server's clock, which moves during the scenario: their waits match within a tolerance far below
the scenario's one-second interval, and their grants match exactly.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from reliable_api.throttle.base import LimiterBackend, Reservation
from reliable_api.throttle.memory import MemoryBackend
from tests.integration.throttle.backends import SHARED_BACKENDS
from tests.integration.throttle.backends import backend as backend
from tests.integration.throttle.backends import key as key
from tests.integration.throttle.backends import make as make

SECOND = {"interval": 1.0}
SCENARIO: list[tuple[str, dict[str, float]]] = [
    ("reserve", {**SECOND, "burst": 3, "max_wait": 0}),
    ("reserve", {**SECOND, "burst": 3, "max_wait": 0}),
    ("reserve", {**SECOND, "burst": 3, "max_wait": 0}),
    ("reserve", {**SECOND, "burst": 3, "max_wait": 0.5}),  # next slot in 1 s: refused
    ("reserve", {**SECOND, "burst": 3, "max_wait": math.inf}),
    ("reserve", {**SECOND, "burst": 3, "max_wait": math.inf}),
    ("paused_for", {}),
    ("pause", {"seconds": 10.0}),
    ("pause", {"seconds": 1.0}),  # never shortens the longer pause
    ("paused_for", {}),
    ("reserve", {**SECOND, "burst": 3, "max_wait": 5.0}),
    ("reserve", {**SECOND, "burst": 3, "max_wait": math.inf}),
    ("adjust", {**SECOND, "factor": 2.0, "ceiling": 8.0, "cooldown": 0.0}),
    ("adjust", {**SECOND, "factor": 2.0, "ceiling": 8.0, "cooldown": 60.0}),  # within the cooldown
    ("reserve", {**SECOND, "burst": 3, "max_wait": math.inf}),
    ("adjust", {**SECOND, "factor": 100.0, "ceiling": 8.0, "cooldown": 0.0}),  # capped
    ("adjust", {**SECOND, "factor": 0.001, "ceiling": 8.0, "cooldown": 0.0}),  # floored
    ("adjust", {"interval": 3.0, "factor": 1.0, "ceiling": 3.0, "cooldown": 0.0}),  # a slower policy
    ("reserve", {**SECOND, "burst": 1, "max_wait": math.inf}),
    ("state", {}),
]


def play(backend: LimiterBackend, key: str) -> list[Any]:
    answers: list[Any] = []
    for operation, arguments in SCENARIO:
        answer = getattr(backend, operation)(key, **arguments)
        if isinstance(answer, Reservation):
            answer = (answer.granted, answer.wait, answer.interval)
        elif operation == "state":
            answer = (answer.tat - answer.paused_until, answer.interval)
        answers.append(answer)
    return answers


def flat(answers: list[Any]) -> list[Any]:
    return [part for answer in answers for part in (answer if isinstance(answer, tuple) else (answer,))]


def test_the_scenario_exercises_every_decision() -> None:
    expected = play(MemoryBackend(now=lambda: 1_000.0), "k")
    assert expected == [
        (True, 0.0, 1.0),
        (True, 0.0, 1.0),
        (True, 0.0, 1.0),
        (False, 1.0, 1.0),
        (True, 1.0, 1.0),
        (True, 2.0, 1.0),
        0.0,
        None,
        None,
        10.0,
        (False, 10.0, 1.0),
        (True, 10.0, 1.0),
        2.0,
        2.0,
        (True, 10.0, 2.0),
        8.0,
        1.0,
        3.0,
        (True, 13.0, 3.0),
        (6.0, 3.0),
    ]


@pytest.mark.parametrize("make", ["memory", *SHARED_BACKENDS], indirect=True)
def test_backend_decides_as_the_pure_functions(backend: LimiterBackend, key: str) -> None:
    expected = play(MemoryBackend(now=lambda: 1_000.0), key)
    assert flat(play(backend, key)) == pytest.approx(flat(expected), abs=0.2)
