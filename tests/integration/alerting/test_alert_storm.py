"""``StormGate``: one alert per window across processes, and the count of the rest after it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reliable_api.alerting.storm import StormGate
from reliable_api.state.engine import make_engine

T0 = datetime(2026, 1, 2, 3, 0, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=10)

# Each process admits the same alert PER_PROCESS times and prints how many it may send.
ADMIT_MANY = """
import sys
from datetime import timedelta
from reliable_api.alerting.storm import StormGate
from reliable_api.state.engine import make_engine

gate = StormGate(make_engine(sys.argv[1]), timedelta(minutes=10))
print(sum(gate.admit("crm_sync", "load", "ServerError").send for _ in range(int(sys.argv[2]))))
"""
PER_PROCESS = 30


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def any_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty state DB on each backend (the server ones skip when unreachable)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def test_one_alert_per_window_then_the_count_of_the_held_back_ones(any_state_url: str) -> None:
    clock = Clock()
    gate = StormGate(make_engine(any_state_url), WINDOW, clock=clock)
    dag = f"crm_sync_{uuid.uuid4().hex[:8]}"  # server DBs are shared by the session's tests

    first = gate.admit(dag, "load", "ServerError")
    clock.now = T0 + timedelta(minutes=2)
    held = [gate.admit(dag, "load", "ServerError") for _ in range(3)]
    other = gate.admit(dag, "load", "AuthenticationError")
    clock.now = T0 + timedelta(minutes=10)
    after = gate.admit(dag, "load", "ServerError")
    clock.now = T0 + timedelta(minutes=11)
    within_next = gate.admit(dag, "load", "ServerError")

    assert (first.send, first.suppressed) == (True, 0)
    assert [admission.send for admission in held] == [False, False, False]
    assert other.send
    assert (after.send, after.suppressed, after.since) == (True, 3, T0 + timedelta(minutes=2))
    assert not within_next.send


def test_two_processes_share_the_window_and_lose_no_count(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    make_engine(url)  # the tables exist before the race
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ADMIT_MANY, url, str(PER_PROCESS)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    sent = [int(process.communicate(timeout=120)[0]) for process in processes]
    assert [process.returncode for process in processes] == [0, 0]

    later = StormGate(make_engine(url), WINDOW, clock=lambda: datetime.now(timezone.utc) + WINDOW)
    admission = later.admit("crm_sync", "load", "ServerError")

    assert sum(sent) == 1
    assert (admission.send, admission.suppressed) == (True, 2 * PER_PROCESS - 1)
