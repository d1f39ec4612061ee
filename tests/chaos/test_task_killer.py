"""The crash trials' killer kills a try only before it returns: a stand-in process, a faked Airflow API.

A process titled as Airflow's task runner titles a try (``airflow worker -- <try id>``) plays the
try; an ``httpx.MockTransport`` plays Airflow's REST API: the try is running, and its
``return_value`` XCom is there (the try has returned) or not.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from task_killer import Killer, KillPoint, process_of

TRY_ID = f"test-{uuid.uuid4()}"


@pytest.fixture
def try_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process that runs "try" ``TRY_ID`` for a minute."""
    title = f"airflow worker -- {TRY_ID}"
    code = f"import setproctitle, time; setproctitle.setproctitle({title!r}); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while process_of(TRY_ID) != process.pid:
        assert time.monotonic() < deadline, "the stand-in try never took its title"
        time.sleep(0.05)
    yield process
    process.kill()
    process.wait()


def airflow(returned: bool) -> httpx.Client:
    """Airflow's REST API with the first try of ``t`` running, its XCom there when ``returned``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/xcomEntries/return_value"):
            return httpx.Response(200, json={"value": {}}) if returned else httpx.Response(404)
        return httpx.Response(200, json={"id": TRY_ID, "try_number": 1, "state": "running"})

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://airflow")


def run_killer(returned: bool) -> Killer:
    point = KillPoint("t", lambda: 1, at=1, label="at once")
    killer = Killer(lambda: airflow(returned), "d", "r", point)
    killer.start()
    killer.join(timeout=60)
    return killer


def state_of(pid: int) -> str:
    """The process state letter of ``/proc/<pid>/stat`` (``T``: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_try_that_has_not_returned_is_killed(try_process: subprocess.Popen[bytes]) -> None:
    killer = run_killer(returned=False)
    assert (killer.killed, killer.late, killer.error, killer.seen) == (True, False, None, 1)
    assert try_process.wait(timeout=30) == -9


def test_a_try_that_has_returned_goes_on_and_the_kill_is_reported_missed(
    try_process: subprocess.Popen[bytes],
) -> None:
    killer = run_killer(returned=True)
    assert (killer.killed, killer.late) == (False, True)
    assert str(killer.error).startswith("kill missed"), killer.error
    assert try_process.poll() is None
    assert state_of(try_process.pid) != "T"  # stopped to be asked about, then let go on
