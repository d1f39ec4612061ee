"""Every sample DAG runs to success with ``dag.test()`` against the sandbox API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """Airflow's metadata DB (SQLite in the tests' throwaway AIRFLOW_HOME), migrated."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=300
    )


@pytest.fixture
def sandbox_connection(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": {"rate_limit": "20/s"}}
    monkeypatch.setenv("AIRFLOW_CONN_RELIABLE_API_SANDBOX", json.dumps(conn))


@pytest.mark.usefixtures("airflow_db", "sandbox_connection")
def test_sandbox_smoke_runs_and_reads_the_sandbox(sandbox: SandboxServer) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("sandbox_smoke")
    assert dag is not None
    run = dag.test()
    assert run.state == "success"
    assert sandbox.stats()["requests_by_route"] == {"GET /v1/contacts": 1}
