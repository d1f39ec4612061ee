"""The health pages over real run metrics and dead letters (``reliable_api.monitoring``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from reliable_api.monitoring.health import integration_health
from reliable_api.state.metrics import record_run
from reliable_api.state.schema import utcnow
from reliable_api.state.task import TaskIdentity
from tests.integration.plugin.conftest import browser, file_dead_letters

MEASURES = ["runs", "success_rate", "duration", "volume", "throttling", "dead_letters", "quota"]


def record_history(engine: Engine, integration: str = "crm_contacts", hours: int = 10) -> None:
    """10-second successes of ``integration`` an hour apart, the last one failed."""
    start = utcnow() - timedelta(hours=hours + 2)
    for n in range(hours):
        begun = start + timedelta(hours=n)
        record_run(
            engine,
            integration,
            TaskIdentity(dag_id=f"{integration}_sync", task_id="load", run_id=f"r{n}", try_number=1),
            started_at=begun,
            ended_at=begun + timedelta(seconds=10),
            counts={"records_in": 500, "rate_limited": 2, "requests": 5, "throttled_seconds": 4.0},
            outcome="failed" if n == hours - 1 else "success",
            error_class="ServerError" if n == hours - 1 else None,
        )


def test_overview_lists_each_integration_and_the_retired_ones(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    record_history(state_db)
    record_run(
        state_db,
        "old_feed",
        TaskIdentity(dag_id="old_feed_sync", task_id="load", run_id="x", try_number=1),
        started_at=utcnow() - timedelta(days=12),
        ended_at=utcnow() - timedelta(days=12),
        counts={"records_in": 3},
    )
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"}), ("c-2", {"id": "c-2"})])
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    page = client.get("/reliable-api/health")
    assert page.status_code == 200
    assert '<tr data-integration="crm_contacts" class="integration">' in page.text
    assert "90.0%" in page.text  # 9 of 10 tries succeeded
    assert "goal 99.0%" in page.text
    assert 'href="/reliable-api/dlq?integration=crm_contacts&amp;status=open">2 open</a>' in page.text
    assert '<tr data-retired="old_feed">' in page.text
    assert "no run for 12 days (retired after 7)" in page.text
    assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">\w{3} \d+ \d\d:\d\d</time>', page.text)
    assert '<nav class="top">' in page.text  # opened on its own: the page's nav
    framed = client.get("/reliable-api/health", headers={"Sec-Fetch-Dest": "iframe"})
    assert '<nav class="top">' not in framed.text  # inside Airflow's frame: Airflow's nav only

    data = client.get("/reliable-api/api/health").json()
    expected = [h.to_dict() for h in integration_health(state_db)]
    assert [item["integration"] for item in data["integrations"]] == ["crm_contacts", "old_feed"]
    assert [item["status"] for item in data["integrations"]] == [item["status"] for item in expected]
    crm = data["integrations"][0]
    assert (crm["runs"], crm["failed_runs"], crm["open_dead_letters"], crm["objective"]) == (10, 1, 2, 0.99)


def test_detail_has_a_chart_per_measure_with_numbers_and_json(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    record_history(state_db)
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    page = client.get("/reliable-api/health/crm_contacts?range=24h")
    assert page.status_code == 200
    assert re.findall(r'<svg class="chart" data-measure="(\w+)"', page.text) == MEASURES
    assert page.text.count('<circle class="point s0"') >= 10 * 3  # runs, success, duration... per hour
    assert "<summary>numbers</summary>" in page.text  # every figure readable without a chart or JS
    assert '<tr data-task="crm_contacts_sync.load">' in page.text
    assert "API 60 s · rate limit 40 s" in page.text  # 10 tries of 10 s, 4 s of each waiting

    data = client.get("/reliable-api/api/health/crm_contacts?range=24h").json()
    assert [chart["measure"] for chart in data["charts"]] == MEASURES
    runs = data["charts"][0]
    assert (len(runs["buckets"]), sum(v or 0 for v in runs["series"]["runs"])) == (24, 10)
    assert data["charts"][1]["target"] == 99.0
    assert data["health"]["tasks"][0]["time_spent"] == {"API": 60.0, "rate limit": 40.0}

    assert client.get("/reliable-api/health/crm_contacts?range=1y").status_code == 422
    missing = client.get("/reliable-api/health/nobody")
    assert missing.status_code == 404
    assert "has tries or dead letters" in missing.text


def test_health_without_history_or_state_db_says_so(
    airflow_app: Any, auth_manager: Any, state_db: Engine, monkeypatch: Any
) -> None:
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    page = client.get("/reliable-api/health")
    assert page.status_code == 200
    assert "No tries recorded yet: nothing to judge." in page.text

    import json

    unreachable = {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "x", "schema": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_RELIABLE_API_STATE", json.dumps(unreachable))
    down = client.get("/reliable-api/health")
    assert down.status_code == 503
    assert (
        "the state DB cannot be read (OperationalError): integration health is unknown, not fine" in down.text
    )
    assert client.get("/reliable-api/api/health").status_code == 503


def test_the_401_page_logs_in_and_comes_back_to_the_asked_page(airflow_app: Any, state_db: Engine) -> None:
    answer = TestClient(airflow_app).get("/reliable-api/dlq?integration=crm&status=open")
    assert answer.status_code == 401
    (login,) = re.findall(r'<a href="([^"]+)" target="_top">Log in to Airflow</a>', answer.text)
    assert login.startswith("/auth/login")
    assert "next=%2Freliable-api%2Fdlq%3Fintegration%3Dcrm%26status%3Dopen" in login.replace("&amp;", "&")
