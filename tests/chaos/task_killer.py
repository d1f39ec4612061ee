"""SIGKILL a task's process under a real scheduler once it has got as far as a seeded point.

A :class:`Killer` is a thread of the test: it waits for the first try of one task of one DAG run
to start (Airflow's REST API gives the try's id), finds the try's process by the title Airflow's
task runner gives it (``airflow worker -- <try id>``), watches a progress counter the test
chooses (requests a sandbox served, creates it counted, rows in the warehouse, lines in the
task's log, a directory the task makes) and, once the counter reaches the chosen point and a
chosen jitter has passed, kills the process with SIGKILL, as the kernel's OOM killer would: no
exception, no cleanup, no callback in the task. Airflow's supervisor then reports the try failed
and the scheduler retries it.

A kill must land inside the try, before it reports success: a try killed after that (while its
success callback runs) counts as succeeded, and the trial would have no crash to recover from.
The counters lag the task (a log line reaches the file through Airflow's supervisor), so the
killer first stops the process (SIGSTOP), and only while nothing in it can move asks Airflow
whether the try has returned: the task's XCom ``return_value`` is pushed, and answered, before
the try reports success, so while it is absent the try has not (this needs a task that returns a
value, as every task of the crash DAG does). If it is there, the killer lets the try go on and
says the kill came too late (``late``); the test then runs the trial again with points drawn
afresh, or fails.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

#: How often the progress counter is read while waiting for the kill point.
POLL_SECONDS = 0.01
#: How long the first try may take to start and reach its kill point.
PATIENCE_SECONDS = 600.0


@dataclass
class KillPoint:
    """Where one task's first try is killed: when ``progress()`` reaches ``at``, after ``jitter`` s."""

    task_id: str
    progress: Callable[[], int]
    at: int
    jitter: float = 0.0
    label: str = ""


@dataclass(eq=False)
class Killer(threading.Thread):
    """Kill the first try of ``point.task_id`` in run ``run_id`` of ``dag_id`` at ``point``.

    After :meth:`join`: ``killed`` says whether the SIGKILL hit the running try before it
    returned, ``seen`` is the progress counter that set it off, ``error`` what went wrong
    otherwise; ``late`` that the try had returned or ended before the kill could land.
    """

    api: Callable[[], httpx.Client]
    dag_id: str
    run_id: str
    point: KillPoint
    killed: bool = False
    seen: int | None = None
    error: str | None = None
    late: bool = False

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, name=f"killer-{self.point.task_id}", daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + PATIENCE_SECONDS
        try:
            try_id = self._first_try_id(deadline)
            pid = _wait_for(lambda: process_of(try_id), deadline, POLL_SECONDS)
            if pid is None:
                self.error = f"no process of try {try_id} appeared"
                return
            while (seen := self.point.progress()) < self.point.at:
                if not runs(pid, try_id):
                    self.late = True
                    self.error = f"the try ended at progress {seen} before the kill point {self.point.at}"
                    return
                if time.monotonic() > deadline:
                    self.error = f"progress stayed at {seen}, short of {self.point.at}"
                    return
                time.sleep(POLL_SECONDS)
            time.sleep(self.point.jitter)
            if not runs(pid, try_id):  # never a pid the kernel gave to another process since
                self.late = True
                self.error = f"the try ended during the jitter after progress {seen}"
                return
            self.seen = seen
            os.kill(pid, signal.SIGSTOP)
            returned = True  # until Airflow answers: a try that may have succeeded goes on, never killed
            try:
                returned = self._returned()
            finally:
                os.kill(pid, signal.SIGCONT if returned else signal.SIGKILL)
            if returned:
                self.late = True
                self.error = f"kill missed: the try had returned when it was stopped, after progress {seen}"
                return
            self.killed = True
        except Exception as error:  # reported by the test, which asserts on it
            self.error = f"{type(error).__name__}: {error}"

    def _returned(self) -> bool:
        """Whether the task's ``return_value`` XCom is there: pushed by a try that returned."""
        path = self._path("xcomEntries/return_value")
        with self.api() as api:
            for _ in range(10):  # a 5xx is the busy SQLite of the API server; the try waits, stopped
                answer = api.get(path)
                if answer.status_code in (200, 404):
                    return answer.status_code == 200
                time.sleep(1)
        raise RuntimeError(
            f"asking for the XCom of {self.point.task_id}: {answer.status_code} {answer.text[:200]}"
        )

    def _path(self, tail: str = "") -> str:
        """The REST path of the task instance, or of ``tail`` under it."""
        path = f"/dags/{self.dag_id}/dagRuns/{self.run_id}/taskInstances/{self.point.task_id}"
        return f"{path}/{tail}" if tail else path

    def _first_try_id(self, deadline: float) -> str:
        """The id of the task's first try, once it is queued or running."""
        with self.api() as api:
            while time.monotonic() < deadline:
                answer = api.get(self._path())
                if answer.is_success:
                    ti = answer.json()
                    if ti["try_number"] > 1:
                        raise RuntimeError(f"{self.point.task_id} is past its first try already")
                    if ti["state"] in ("queued", "running"):
                        return str(ti["id"])
                time.sleep(0.25)
        raise TimeoutError(f"the first try of {self.point.task_id} did not start")


def process_of(try_id: str) -> int | None:
    """The pid of the process running task try ``try_id``, or ``None`` when there is none."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and runs(int(entry), try_id):
            return int(entry)
    return None


def runs(pid: int, try_id: str) -> bool:
    """Whether process ``pid`` is running task try ``try_id`` (one file read, not a scan of /proc)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return cmdline.rstrip(b"\0").startswith(f"airflow worker -- {try_id}".encode())


def log_lines(path: Path, markers: tuple[str, ...]) -> Callable[[], int]:
    """A progress counter: how many of ``markers`` (in order) the task log at ``path`` holds."""

    def progress() -> int:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for marker in markers if marker in text)

    return progress


def _wait_for(find: Callable[[], int | None], deadline: float, pause: float) -> int | None:
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        time.sleep(pause)
    return None
