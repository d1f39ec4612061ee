"""A permanent error fails the task once, without its Airflow retries, and still alerts.

The control case (a 503 that outlasts the hook's retries) shows that the same DAG does retry a
transient failure; the 401 must not be retried (``PermanentError`` is an ``AirflowFailException``).
Each try writes one run-metrics row, so the rows count the tries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from reliable_api.state.schema import run_metrics

pytestmark = pytest.mark.slow

DAG_FILE = """
from datetime import timedelta

from airflow.sdk import DAG

from reliable_api.alerting.callbacks import task_alert_callbacks
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.operators.extract import ApiExtractOperator

ALERTS = WebhookNotifier(webhook_conn_id="permanent_alerts", format="json")
DEFAULTS = {"retries": 2, "retry_delay": timedelta(0), **task_alert_callbacks(ALERTS, retry_from_try=1)}

with DAG("permanent_retries", schedule=None, default_args=DEFAULTS):
    ApiExtractOperator(
        task_id="extract",
        http_conn_id="permanent_api",
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=50),
        max_pages=1,
    )
"""


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    ("sandbox_options", "error_class", "tries", "first_alert"),
    [
        ({"api_keys": ["k_live"]}, "AuthenticationError", 1, "task_failure"),
        # Later alerts of the same failure are grouped into the first (alerting/storm.py).
        ({"p_503": 1.0}, "ServerError", 3, "task_retry"),
    ],
    ids=["401_not_retried", "503_retried"],
)
def test_a_permanent_error_fails_the_task_once_and_alerts(
    sandbox_options: dict[str, Any],
    error_class: str,
    tries: int,
    first_alert: str,
    make_sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.airflow_compat import DagBag

    sandbox = make_sandbox(**sandbox_options)
    state_db = tmp_path / "state.db"
    connections = {
        "permanent_api": {
            "conn_type": "reliable_http",
            "host": sandbox.url,
            "extra": {"limiter_backend": "memory", "max_retries": 0},
        },
        "permanent_alerts": {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"},
        "reliable_api_state": {"conn_type": "sqlite", "host": str(state_db)},
    }
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "permanent.py").write_text(DAG_FILE)
    bundle = {
        "name": "permanent-errors",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(folder)},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    dag = DagBag(dag_folder=str(folder)).get_dag("permanent_retries")
    assert dag is not None

    run = dag.test()

    assert run.state == "failed"
    engine = create_engine(f"sqlite:///{state_db}")
    with engine.connect() as conn:
        rows = conn.execute(select(run_metrics.c.outcome, run_metrics.c.error_class)).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("failed", error_class)] * tries
    kinds = [delivery["body"]["kind"] for delivery in sandbox.webhooks("alerts")]
    assert kinds[0] == first_alert
    assert len(kinds) == 1 or error_class == "ServerError"  # the 401: one alert, no retry alerts
