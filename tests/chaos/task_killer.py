"""SIGKILL a task's process under a real scheduler once it has got as far as a seeded point.

A :class:`Killer` is a thread of the test: it waits for the first try of one task of one DAG run
to start (Airflow's REST API gives the try's id), finds the try's process by the title Airflow's
task runner gives it (``airflow worker -- <try id>``), watches a progress counter the test
chooses (requests a sandbox served, creates it counted, rows in the warehouse, lines in the
task's log) and, once the counter reaches the chosen point and a chosen jitter has passed, kills
the process with SIGKILL, as the kernel's OOM killer would: no exception, no cleanup, no
callback in the task. Airflow's supervisor then reports the try failed and the scheduler
retries it.
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

    After :meth:`join`: ``killed`` says whether the SIGKILL hit the running try, ``seen`` is
    the progress counter read just before it, ``error`` what went wrong otherwise.
    """

    api: Callable[[], httpx.Client]
    dag_id: str
    run_id: str
    point: KillPoint
    killed: bool = False
    seen: int | None = None
    error: str | None = None

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
                if process_of(try_id) != pid:
                    self.error = f"the try ended at progress {seen} before the kill point {self.point.at}"
                    return
                if time.monotonic() > deadline:
                    self.error = f"progress stayed at {seen}, short of {self.point.at}"
                    return
                time.sleep(POLL_SECONDS)
            time.sleep(self.point.jitter)
            self.seen = seen
            if process_of(try_id) != pid:  # never a pid the kernel gave to another process since
                self.error = f"the try ended during the jitter after progress {seen}"
                return
            os.kill(pid, signal.SIGKILL)
            self.killed = True
        except Exception as error:  # reported by the test, which asserts on it
            self.error = f"{type(error).__name__}: {error}"

    def _first_try_id(self, deadline: float) -> str:
        """The id of the task's first try, once it is queued or running."""
        path = f"/dags/{self.dag_id}/dagRuns/{self.run_id}/taskInstances/{self.point.task_id}"
        with self.api() as api:
            while time.monotonic() < deadline:
                answer = api.get(path)
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
    title = f"airflow worker -- {try_id}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.rstrip(b"\0").startswith(title):
            return int(entry)
    return None


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
