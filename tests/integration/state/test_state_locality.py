"""Per-machine state (the SQLite fallback, the sqlite limiter) is refused under a distributed executor."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reliable_api.exceptions import ConfigurationError
from reliable_api.state.engine import state_engine, state_location
from reliable_api.state.locality import distributed_executors
from reliable_api.throttle.factory import make_backend

MISSING = "reliable_api_state_missing_for_locality"


@pytest.mark.parametrize(
    ("executor", "distributed"),
    [
        ("LocalExecutor", []),
        ("CeleryExecutor", ["CeleryExecutor"]),
        (
            "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
            ["KubernetesExecutor"],
        ),
        ("LocalExecutor,edge:airflow.providers.edge3.executors.EdgeExecutor", ["EdgeExecutor"]),
    ],
)
def test_distributed_executors_are_told_from_the_config(
    executor: str, distributed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    assert distributed_executors() == distributed


def test_missing_state_connection_under_celery_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(ConfigurationError) as refused:
        state_engine(MISSING)
    message = str(refused.value)
    assert f"create the connection {MISSING!r}" in message
    assert "CeleryExecutor" in message
    assert "AIRFLOW__RELIABLE_API__ALLOW_LOCAL_STATE" in message


def test_the_opt_in_allows_the_local_file_and_the_location_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW__RELIABLE_API__ALLOW_LOCAL_STATE", "True")
    with caplog.at_level(logging.INFO, logger="reliable_api.state.engine"):
        first = state_engine(MISSING)
        assert state_engine(MISSING) is first
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [f"reliable_api state DB: {state_location(MISSING)}"]
    assert str(tmp_path / "reliable_api" / "state.db") in lines[0]
    assert f"no connection {MISSING!r}" in lines[0]
    first.dispose()


def test_the_location_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "postgres",
        "host": "db.internal",
        "login": "app",
        "password": "s3cret",
        "schema": "st",
    }
    monkeypatch.setenv("AIRFLOW_CONN_RAPI_LOCATION_PG", json.dumps(conn))
    location = state_location("rapi_location_pg")
    assert "s3cret" not in location
    assert location == "postgresql+psycopg2://app:***@db.internal:5432/st (connection 'rapi_location_pg')"


def test_sqlite_limiter_is_refused_under_kubernetes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "KubernetesExecutor")
    with pytest.raises(ConfigurationError, match="limiter_backend 'redis' or 'postgres'"):
        make_backend("sqlite", path=tmp_path / "limiter.sqlite")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    assert make_backend("sqlite", path=tmp_path / "limiter.sqlite") is not None
