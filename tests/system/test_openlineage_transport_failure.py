"""An OpenLineage transport that fails never fails a task: the run succeeds, a warning is logged.

``crm_contacts_sync`` (extract, validate, load: the provider's operators) runs with ``dag.test()``
in a child process, as in ``test_openlineage_runs.py``, with a transport whose emit raises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.system.test_openlineage_runs import RUN_DAG, connections_env

pytestmark = pytest.mark.slow
pytest.importorskip("airflow.providers.openlineage", reason="needs apache-airflow-providers-openlineage")

TRANSPORT = "tests.system.lineage_failure.raising_transport.RaisingTransport"


@pytest.mark.usefixtures("airflow_db")
def test_a_raising_transport_warns_and_the_run_succeeds(make_sandbox: Any, tmp_path: Path) -> None:
    crm = make_sandbox(contacts=50)
    alerts = f"{crm.url}/_sandbox/webhook/alerts"
    attempts = tmp_path / "attempts.txt"
    env = {
        **connections_env(
            {
                "RELIABLE_API_SANDBOX": {"conn_type": "reliable_http", "host": crm.url},
                "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
                "RELIABLE_API_WAREHOUSE": {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")},
                "RELIABLE_API_ALERTS": {"conn_type": "http", "password": alerts},
            }
        ),
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
