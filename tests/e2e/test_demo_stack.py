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


def processes_with_home(home: Path) -> list[int]:
    """Pids of live processes whose environment points AIRFLOW_HOME at ``home``."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_rest_api_triggered_run_succeeds_and_nothing_is_left_behind(tmp_path: Path) -> None:
    stack = DemoStack(home=tmp_path / "airflow", airflow_port=free_port(), sandbox_port=free_port())
    with stack:
        run_id = stack.trigger("sandbox_smoke")
        assert stack.wait_for_run("sandbox_smoke", run_id) == "success"
        with stack.api_client() as api:
            xcom = api.get(
                f"/dags/sandbox_smoke/dagRuns/{run_id}/taskInstances/fetch_first_page/xcomEntries/return_value"
            )
        assert xcom.status_code == 200
        assert xcom.json()["value"]["records"] == 25
        stats = httpx.get(f"{stack.sandbox_url}/_sandbox/stats", timeout=10).json()
        assert stats["requests_total"] >= 1
    assert stack.leftover_pids() == []
    assert processes_with_home(stack.home) == []
    for port in (stack.airflow_port, stack.sandbox_port):
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


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


def test_sigterm_stops_a_running_demo_and_a_second_one_on_its_ports_refuses_to_start(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    ports = (free_port(), free_port())
    command = [sys.executable, "-m", "demo", "--home", str(home), "--marketing-port", str(free_port())]
    demo = subprocess.Popen(
        [*command, "--airflow-port", str(ports[0]), "--sandbox-port", str(ports[1])],
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

        demo.terminate()
        rest, _ = demo.communicate(timeout=120)
    finally:
        demo.kill()
    assert demo.returncode == 0, rest
    assert "stopped." in rest
    assert processes_with_home(home) == []
