"""The health DAG's task: a muted integration alerts no one, a state DB that is down is said plainly."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from reliable_api.monitoring.alerts import StateDatabaseUnavailable, check_health
from reliable_api.state.metrics import record_run
from reliable_api.state.schema import utcnow
from reliable_api.state.task import TaskIdentity


def seed_volume_drop(engine: Engine) -> None:
    now = utcnow()
    for n in range(20):
        started = now - timedelta(minutes=10) - (19 - n) * timedelta(hours=1)
        record_run(
            engine,
            "crm",
            TaskIdentity(dag_id="crm_sync", task_id="load", run_id=f"r{n}", try_number=1),
            started_at=started,
            ended_at=started + timedelta(seconds=30),
            counts={"records_in": 0 if n >= 17 else 1000 + n % 5},
        )


def test_a_muted_integration_is_judged_but_alerts_no_one(
    state_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_volume_drop(state_db)
    config = tmp_path / "monitoring.yaml"
    now = utcnow()
    window = {"from": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    config.write_text(json.dumps({"integrations": {"crm": {"mute": [window]}}}))  # JSON is YAML
    monkeypatch.setenv("AIRFLOW__RELIABLE_API__MONITORING_CONFIG", str(config))
    told: list[Any] = []
    result = check_health({}, [told.append])  # type: ignore[list-item]
    assert told == []
    assert result["alerted"] == []
    assert [a["kind"] for a in result["integrations"][0]["anomalies"]] == ["volume_drop"]


def test_a_state_db_that_is_down_fails_the_check_plainly_and_alerts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    down = {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "x", "schema": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_RELIABLE_API_STATE", json.dumps(down))
    told: list[Any] = []
    with pytest.raises(
        StateDatabaseUnavailable, match="cannot be read: OperationalError; no integration was judged"
    ):
        check_health({}, [told.append])  # type: ignore[list-item]
    assert told == []
