"""The health page over real run metrics and dead letters (``reliable_api.monitoring``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from reliable_api.monitoring.health import integration_health
from reliable_api.state.metrics import record_run
from reliable_api.state.schema import utcnow
from reliable_api.state.task import TaskIdentity
from tests.integration.plugin.conftest import browser, file_dead_letters


def record_history(engine: Engine) -> None:
    """Nine 10-second successes of crm_contacts, then a failed try, an hour apart."""
    start = utcnow() - timedelta(hours=12)
    for n in range(10):
        begun = start + timedelta(hours=n)
        record_run(
            engine,
            "crm_contacts",
            TaskIdentity(dag_id="crm_contacts_sync", task_id="load", run_id=f"r{n}", try_number=1),
            started_at=begun,
            ended_at=begun + timedelta(seconds=10),
            counts={"records_in": 500, "rate_limited": 2},
            outcome="failed" if n == 9 else "success",
            error_class="ServerError" if n == 9 else None,
        )


def test_health_page_shows_each_integration_with_charts(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    record_history(state_db)
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"}), ("c-2", {"id": "c-2"})])
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    page = client.get("/reliable-api/health")
    assert page.status_code == 200
    assert '<tr data-integration="crm_contacts" class="integration">' in page.text
    assert "90%" in page.text  # 9 of 10 tries succeeded
    assert '<svg class="bar"' in page.text
    assert '<svg class="pair"' in page.text
    # One row per task, with the trend of its tries: nine successes, then a failure (a red dot).
    assert '<tr data-task="crm_contacts_sync.load" class="task">' in page.text
    assert page.text.count('<svg class="trend"') == 1
    assert page.text.count("<circle ") == 1
    assert "10 tries, longest 10.0 s, 1 failed" in page.text
    assert " UTC</td>" in page.text  # times as people read them, not ISO 8601
    assert 'href="/reliable-api/dlq?integration=crm_contacts&amp;status=open">2</a>' in page.text

    data = client.get("/reliable-api/api/health").json()
    (expected,) = [h.to_dict() for h in integration_health(state_db)]
    # Anomaly messages may say how long ago something happened: compare their kinds.
    assert [a["kind"] for a in data["integrations"][0].pop("anomalies")] == [
        a["kind"] for a in expected.pop("anomalies")
    ]
    assert data["integrations"] == [expected]
    data = client.get("/reliable-api/api/health").json()
    (crm,) = data["integrations"]
    assert (crm["runs"], crm["failed_runs"], crm["open_dead_letters"]) == (10, 1, 2)
    for anomaly in crm["anomalies"]:
        assert anomaly["kind"] in page.text


def test_health_page_without_history(airflow_app: Any, auth_manager: Any, state_db: Engine) -> None:
    page = browser(airflow_app, auth_manager, "vera", "viewer").client.get("/reliable-api/health")
    assert page.status_code == 200
    assert "No runs recorded yet." in page.text
