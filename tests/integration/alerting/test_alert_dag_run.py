"""A DAG run with a failing task, through ``dag.test()``: the alert reaches the webhook sink."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """Airflow's metadata DB (SQLite in the tests' throwaway AIRFLOW_HOME), migrated."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=300
    )


# dag.test() runs what the DAG folder's bundle holds, so the DAG is a file, as users write it.
DAG_FILE = """
from airflow.sdk import DAG, task

from reliable_api.alerting.callbacks import on_failure_callback
from reliable_api.exceptions import ServerError
from reliable_api.notifications.webhook import WebhookNotifier

alert = on_failure_callback(WebhookNotifier(webhook_conn_id="alerts_hook", format="json"))

with DAG("alert_on_failure", schedule=None, params={"integration": "crm_contacts"}):

    @task(on_failure_callback=alert, retries=0)
    def load() -> None:
        raise ServerError("the API failed on its side (HTTP 503)", status=503, attempts=6)

    load()
"""


@pytest.mark.usefixtures("airflow_db")
def test_a_failed_task_alerts_with_the_dag_task_run_and_link(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    base_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.airflow_compat import AIRFLOW_V_3_3_PLUS, DagBag

    channel = webhook()
    (tmp_path / "alert_on_failure.py").write_text(DAG_FILE)
    bundle = {
        "name": "alerting-tests",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(tmp_path)},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    dag = DagBag(dag_folder=str(tmp_path)).get_dag("alert_on_failure")
    assert dag is not None

    run = dag.test()

    assert run.state == "failed"
    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    assert (body["dag_id"], body["task_id"], body["run_id"]) == ("alert_on_failure", "load", run.run_id)
    assert body["integration"] == "crm_contacts"
    # Before 3.3, dag.test() runs the callbacks without context["exception"] (workers set it).
    if AIRFLOW_V_3_3_PLUS:
        assert (body["error_class"], body["attempts"]) == ("ServerError", 6)
    assert body["run_url"].startswith(f"{base_url}/dags/alert_on_failure/runs/")
    assert body["dlq_url"] == f"{base_url}/reliable-api/dlq?integration=crm_contacts"
