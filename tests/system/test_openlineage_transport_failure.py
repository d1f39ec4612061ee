"""An OpenLineage transport that fails never fails a task: the run succeeds, a warning is logged.

``crm_contacts_sync`` (extract, validate, load: the provider's operators) runs with ``dag.test()``
in a child process (OpenLineage reads its configuration once per process) with a transport whose
emit raises. ``test_sample_dags_cli.py`` reads back what a working transport receives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("airflow.providers.openlineage", reason="needs apache-airflow-providers-openlineage")

TRANSPORT = "tests.system.lineage_failure.raising_transport.RaisingTransport"
RUN_DAG = """
import os, sys
from tests.airflow_compat import DagBag, run_dag_test

dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(sys.argv[1])
print("STATE", run_dag_test(dag, first_run=True).state)
"""


@pytest.mark.usefixtures("airflow_db")
def test_a_raising_transport_warns_and_the_run_succeeds(make_sandbox: Any, tmp_path: Path) -> None:
    crm = make_sandbox(contacts=50)
    alerts = f"{crm.url}/_sandbox/webhook/alerts"
    attempts = tmp_path / "attempts.txt"
    connections = {
        "RELIABLE_API_SANDBOX": {"conn_type": "reliable_http", "host": crm.url},
        "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
        "RELIABLE_API_WAREHOUSE": {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")},
        "RELIABLE_API_ALERTS": {"conn_type": "http", "password": alerts},
    }
    env = {
        **os.environ,
        **{f"AIRFLOW_CONN_{key}": json.dumps(value) for key, value in connections.items()},
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": TRANSPORT}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "test",
        "RAISING_TRANSPORT_ATTEMPTS": str(attempts),
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN_DAG, "crm_contacts_sync"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert "STATE success" in result.stdout, output[-6000:]
    tried = attempts.read_text().splitlines()
    for task_id in ("extract", "validate", "load_warehouse"):  # each task's COMPLETE event was tried
        assert [line for line in tried if line.startswith("COMPLETE ") and line.endswith(task_id)], tried
    assert "Failed to emit OpenLineage" in output, output[-6000:]
    assert "lineage backend unreachable" in output
