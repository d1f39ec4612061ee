"""``reliable_api_health`` with ``dag.test()``: a seeded anomaly alerts once, not again while it
lasts, and its recovery is told when it clears."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from reliable_api.state.engine import make_engine
from reliable_api.state.metrics import record_run
from reliable_api.state.schema import utcnow
from reliable_api.state.task import TaskIdentity
from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow


def seed(state_url: str, integration: str, *, last_records: int) -> None:
    """20 hourly loads of about 1,000 records, the last three (up to 10 minutes ago) ``last_records``."""
    engine = make_engine(state_url)
    now = utcnow()
    for n in range(20):
        started = now - timedelta(minutes=10) - (19 - n) * timedelta(hours=1)
        record_run(
            engine,
            integration,
            TaskIdentity(dag_id=f"{integration}_sync", task_id="load", run_id=f"r{n}", try_number=1),
            started_at=started,
            ended_at=started + timedelta(seconds=30 + n % 3),
            counts={"records_in": last_records if n >= 17 else 1000 + n % 5},
        )
    engine.dispose()


@pytest.mark.usefixtures("airflow_db")
def test_a_seeded_anomaly_alerts_once(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_compat import DagBag

    state_db = tmp_path / "state.db"
    seed(f"sqlite:///{state_db}", "crm", last_records=0)
    seed(f"sqlite:///{state_db}", "erp", last_records=1003)
    connections = {
        "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(state_db)},
        "RELIABLE_API_ALERTS": {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"},
    }
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(conn))
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("reliable_api_health")
    assert dag is not None

    assert dag.test().state == "success"
    (alert,) = [delivery["body"] for delivery in sandbox.webhooks("alerts")]
    text = alert["text"]
    assert "Anomaly in crm: Far fewer records than usual (crm_sync.load)" in text
    assert "moved 0 records; usually 1002" in text
    assert "erp" not in json.dumps(alert)

    assert dag.test().state == "success"  # the anomaly lasts: not told again
    assert len(sandbox.webhooks("alerts")) == 1

    seed(f"sqlite:///{state_db}", "crm", last_records=1000)  # three good loads: it cleared
    assert dag.test().state == "success"
    recovery = sandbox.webhooks("alerts")[-1]["body"]["text"]
    assert "Recovered in crm: Far fewer records than usual (crm_sync.load)" in recovery
    assert "Cleared; it was: crm_sync.load moved 0 records" in recovery
