"""Failures that only a real scheduler shows still alert: a SIGKILLed task, a missed deadline.

One ``airflow standalone`` (scheduler, dag-processor, triggerer, API server) with the DAGs of
``tests/e2e/dags/``; alerts go to the sandbox's webhook sink, which the test reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.stack import DemoStack, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

CHANNEL = "e2e"
#: How soon after the failure an alert must arrive (issue 6).
ALERT_WITHIN = 60.0


def alerts_of(stack: DemoStack, dag_id: str, kinds: set[str], timeout: float) -> list[dict[str, Any]]:
    """The alerts about ``dag_id`` of ``kinds`` in the sink, waiting up to ``timeout`` for one."""
    deadline = time.monotonic() + timeout
    while True:
        received = httpx.get(f"{stack.sandbox_url}/_sandbox/webhook/{CHANNEL}", timeout=10).json()
        bodies = [delivery["body"] for delivery in received["data"]]
        found = [body for body in bodies if body.get("dag_id") == dag_id and body.get("kind") in kinds]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(2)


def test_killed_task_and_missed_deadline_alert_within_a_minute(tmp_path: Path) -> None:
    port = free_port()
    hook = {"conn_type": "http", "password": f"http://127.0.0.1:{port}/_sandbox/webhook/{CHANNEL}"}
    stack = DemoStack(
        home=tmp_path / "airflow",
        airflow_port=free_port(),
        sandbox_port=port,
        dags_folder=Path(__file__).parent / "dags",
        extra_env={"AIRFLOW_CONN_E2E_ALERTS": json.dumps(hook)},
    )
    with stack:
        deadline_run = stack.trigger("alert_missed_deadline")
        assert stack.run_dag("alert_killed_task") == "failed"
        killed = alerts_of(stack, "alert_killed_task", {"task_failure", "dag_failure"}, ALERT_WITHIN)
        assert killed, "no alert for the killed task"
        assert {alert["run_id"] for alert in killed} == {killed[0]["run_id"]}
        assert killed[0]["run_url"].startswith(stack.airflow_url)

        missed = alerts_of(stack, "alert_missed_deadline", {"deadline_missed"}, ALERT_WITHIN)
        assert [alert["run_id"] for alert in missed] == [deadline_run]
