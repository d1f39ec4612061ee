"""``crm_contacts_to_marketing`` with ``dag.test()``: CRM sandbox in, marketing sandbox out.

The marketing API answers 503 now and then; every good contact is created there exactly once,
a second run sends it nothing, and every bad one is a dead letter.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("airflow_db")
def test_contacts_reach_the_marketing_api_once_through_faults_and_a_second_run(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reliable_api.deadletter.queue import DeadLetterQueue
    from reliable_api.state.engine import make_engine
    from tests.airflow_compat import DagBag, run_dag_test

    crm = make_sandbox()
    marketing = make_sandbox(contacts=0, p_503=0.05, seed=7)
    limits = {"rate_limit": "50/s", "burst": 10, "limiter_backend": "memory", "backoff_base": 0.05}
    connections = {
        "RELIABLE_API_SANDBOX": {"conn_type": "reliable_http", "host": crm.url, "extra": limits},
        "RELIABLE_API_MARKETING": {"conn_type": "reliable_http", "host": marketing.url, "extra": limits},
        "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
        "RELIABLE_API_ALERTS": {"conn_type": "http", "password": f"{crm.url}/_sandbox/webhook/alerts"},
    }
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(conn))
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("crm_contacts_to_marketing")
    assert dag is not None

    assert run_dag_test(dag).state == "success"
    first = marketing.stats()
    rejected = DeadLetterQueue(make_engine(f"sqlite:///{tmp_path / 'state.db'}")).find(
        integration="marketing_contacts", limit=10_000
    )
    assert first["faults_injected"].get("503", 0) > 0  # the faults happened and were retried
    assert first["duplicate_creates"] == 0
    assert first["creates_total"] + len(rejected) == 500  # each CRM contact created or dead-lettered
    assert len(rejected) > 0
    assert len(marketing.webhooks("alerts")) == 0  # alerts go to the CRM sandbox's sink here
    (alert,) = [d["body"] for d in crm.webhooks("alerts")]
    assert "marketing_contacts" in json.dumps(alert)  # the validation dead-lettered some

    assert run_dag_test(dag).state == "success"
    second = marketing.stats()
    assert second["creates_total"] == first["creates_total"]
    assert second["requests_total"] == first["requests_total"]  # unchanged contacts: no request
