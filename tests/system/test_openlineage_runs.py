"""A real run with the OpenLineage provider: each sample pipeline emits its datasets and checks.

The DAGs run with ``dag.test()`` in a child process (OpenLineage reads its configuration once
per process) with OpenLineage's file transport; the events it wrote are read back.
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

RUN_DAG = """
import os, sys
from tests.airflow_compat import DagBag, run_dag_test

dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(sys.argv[1])
print("STATE", run_dag_test(dag, first_run=True).state)
"""


def run_with_lineage(dag_id: str, env: dict[str, str], events_file: Path) -> list[dict[str, Any]]:
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    env = {
        **env,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "test",
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN_DAG, dag_id],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "STATE success" in result.stdout, result.stdout[-2000:] + result.stderr[-4000:]
    return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]


def completed(events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    (event,) = [
        e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(f".{task_id}")
    ]
    return event


def names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["namespace"], item["name"]) for item in datasets]


def connections_env(connections: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {**os.environ, **{f"AIRFLOW_CONN_{key}": json.dumps(value) for key, value in connections.items()}}


def check_validation(events: list[dict[str, Any]], extract: dict[str, Any]) -> dict[str, Any]:
    validate = completed(events, "validate")
    assert names(validate["inputs"]) == names(extract["outputs"])  # the extract's staged batch
    assertions = validate["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions  # one per expectation of the contacts contract, with its failed rows
    assert {"assertion", "success", "name", "actual"} <= set(assertions[0])
    assert any(item["success"] is False and int(item["actual"]) > 0 for item in assertions)
    return validate


@pytest.mark.usefixtures("airflow_db")
def test_crm_contacts_sync_emits_api_staged_and_table_datasets_with_assertions(
    make_sandbox: Any, tmp_path: Path
) -> None:
    crm = make_sandbox(contacts=100)  # about a fifth of them bad: some assertions fail
    host = crm.url.removeprefix("http://")
    env = connections_env(
        {
            "RELIABLE_API_SANDBOX": {"conn_type": "reliable_http", "host": crm.url},
            "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
            "RELIABLE_API_WAREHOUSE": {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")},
            "RELIABLE_API_ALERTS": {"conn_type": "http", "password": f"{crm.url}/_sandbox/webhook/alerts"},
        }
    )
    events = run_with_lineage("crm_contacts_sync", env, tmp_path / "events.jsonl")

    extract = completed(events, "extract")
    assert names(extract["inputs"]) == [(f"http://{host}", "/v1/contacts")]
    assert extract["outputs"][0]["namespace"] == "file"
    validate = check_validation(events, extract)
    load = completed(events, "load_warehouse")
    assert names(load["inputs"]) == names(validate["outputs"])
    assert names(load["outputs"]) == [(f"sqlite://{tmp_path / 'warehouse.db'}", "crm_contacts")]


@pytest.mark.usefixtures("airflow_db")
def test_crm_contacts_to_marketing_emits_the_marketing_api_as_output(
    make_sandbox: Any, tmp_path: Path
) -> None:
    crm = make_sandbox(contacts=100)  # about a fifth of them bad: some assertions fail
    marketing = make_sandbox(contacts=0)
    env = connections_env(
        {
            "RELIABLE_API_SANDBOX": {"conn_type": "reliable_http", "host": crm.url},
            "RELIABLE_API_MARKETING": {"conn_type": "reliable_http", "host": marketing.url},
            "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
            "RELIABLE_API_ALERTS": {"conn_type": "http", "password": f"{crm.url}/_sandbox/webhook/alerts"},
        }
    )
    events = run_with_lineage("crm_contacts_to_marketing", env, tmp_path / "events.jsonl")

    extract = completed(events, "extract")
    validate = check_validation(events, extract)
    push = completed(events, "push_marketing")
    assert names(push["inputs"]) == names(validate["outputs"])
    assert names(push["outputs"]) == [(marketing.url, "/v1/contacts")]
