"""The ``make demo`` stack, headless: a real scheduler, triggerer, dag-processor and API server."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from demo.__main__ import DEMO_DAGS
from demo.stack import REPO, DemoError, DemoStack, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


def live_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def processes_with_home(home: Path) -> list[int]:
    """Pids of live processes whose environment points AIRFLOW_HOME at ``home``."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for pid in live_pids():
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            continue
    return found


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command's name: state ppid pgrp session ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def session_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if fields else None


def descendants(root: int) -> set[int]:
    """The live processes whose chain of parents leads to ``root``."""
    children: dict[int, list[int]] = {}
    for pid in live_pids():
        fields = _stat_fields(pid)
        if fields:
            children.setdefault(int(fields[1]), []).append(pid)
    found, pending = set(), [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


@pytest.mark.timeout(1200)  # two demos, one after the other
def test_make_demo_once_runs_the_sample_dags_and_a_second_one_reports_the_same(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    command = [sys.executable, "-m", "demo", "--once", "--home", str(home)]
    created = []
    for _ in range(2):  # the same home: the second run starts where a user's second `make demo` does
        ports = ("--airflow-port", str(free_port()), "--sandbox-port", str(free_port()))
        result = subprocess.run(
            [*command, *ports, "--marketing-port", str(free_port())],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Airflow UI:   http://127.0.0.1:" in result.stdout
        assert "(login: admin / " in result.stdout
        for dag_id in DEMO_DAGS:
            assert f"{dag_id}: success" in result.stdout, result.stdout
        marketing = re.search(
            r"^marketing API: (\d+) contacts created, (\d+) created twice", result.stdout, re.M
        )
        assert marketing, result.stdout
        assert int(marketing.group(2)) == 0
        created.append(int(marketing.group(1)))
        # The sandbox's contacts are messy on purpose: the sync dead-letters some, and says so.
        dead_letters = re.search(r"^dead letters: (\d+) ", result.stdout, re.MULTILINE)
        alerts = re.search(r"^alerts sent to the sandbox's webhook sink: (\d+)$", result.stdout, re.MULTILINE)
        assert dead_letters, result.stdout
        assert alerts, result.stdout
        assert int(dead_letters.group(1)) > 0
        assert int(alerts.group(1)) > 0
        # Returned only once nothing of the stack is left: no API server finishing its shutdown.
        assert processes_with_home(home) == []
    # The ledger was reset with the sandboxes: "created twice: 0" checks something both times.
    assert created[0] > 0
    assert created[1] == created[0]


def test_a_running_demo_runs_a_dag_triggered_through_the_rest_api_and_sigterm_leaves_nothing(
    tmp_path: Path,
) -> None:
    """``make demo`` as a user drives it: a second one on its ports refuses to start, a DAG run
    triggered through the REST API succeeds, and SIGTERM stops every process and closes every port."""
    home = tmp_path / "airflow"
    ports = (free_port(), free_port(), free_port())
    names = ("--airflow-port", "--sandbox-port", "--marketing-port")
    flags = [part for name, port in zip(names, ports, strict=True) for part in (name, str(port))]
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo", "--home", str(home), *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert lines[-1].startswith("Press Ctrl-C"), "".join(lines)

        second = DemoStack(home=tmp_path / "second", airflow_port=ports[0], sandbox_port=ports[1])
        with pytest.raises(DemoError, match=f"port {ports[0]} is in use"):
            second.start()
        assert second.leftover_pids() == []

        # Not started: a client of the running demo, reading its login from the demo's home.
        running = DemoStack(home=home, airflow_port=ports[0], sandbox_port=ports[1], marketing_port=ports[2])
        run_id = running.trigger("sandbox_smoke")
        assert running.wait_for_run("sandbox_smoke", run_id) == "success"
        with running.api_client() as api:
            xcom = api.get(
                f"/dags/sandbox_smoke/dagRuns/{run_id}/taskInstances/fetch_first_page/xcomEntries/return_value"
            )
        assert xcom.status_code == 200
        assert xcom.json()["value"]["records"] == 25
        stats = httpx.get(f"{running.sandbox_url}/_sandbox/stats", timeout=10).json()
        assert stats["requests_total"] >= 1
        # Every process of the stack leads its own session (or is in one of theirs): those
        # sessions find a process that overwrote its environment, which the scan by home misses.
        sessions = {session_of(pid) for pid in descendants(demo.pid)}
        assert len(sessions) >= 3  # the two sandboxes and airflow standalone

        demo.terminate()
        rest, _ = demo.communicate(timeout=120)
    finally:
        demo.kill()
    assert demo.returncode == 0, rest
    assert "stopped." in rest
    assert processes_with_home(home) == []
    assert [pid for pid in live_pids() if session_of(pid) in sessions] == []
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
