"""``ApiUpsertOperator`` against the sandbox: staged input, dead letters, metrics, deferral."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from api_upsert_worker import contacts, resource
from sqlalchemy import select

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover - older Airflow 3 releases
    from airflow.exceptions import TaskDeferred

from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.staging.files import StagedWriter
from reliable_api.state.engine import state_engine
from reliable_api.state.schema import dead_letters, run_metrics

HTTP_CONN = "upsert_operator_sandbox"
STATE_CONN = "upsert_operator_state"


@pytest.fixture
def connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the state connection at a fresh SQLite file; return a setter for the API's."""
    state = {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{tmp_path / 'state.db'}"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN.upper()}", json.dumps(state))

    def use_api(url: str, **extra: Any) -> None:
        conn = {"conn_type": "reliable_http", "host": url, "extra": {"limiter_backend": "memory", **extra}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{HTTP_CONN.upper()}", json.dumps(conn))

    return use_api


def context(run_id: str = "run_1", try_number: int = 1) -> Any:
    ti = SimpleNamespace(dag_id="dag", run_id=run_id, task_id="load", map_index=-1, try_number=try_number)
    return {"ti": ti}


def operator(records: Any, **kwargs: Any) -> ApiUpsertOperator:
    return ApiUpsertOperator(
        task_id="load",
        http_conn_id=HTTP_CONN,
        resource=resource(idempotency=True, lookup=True),
        records=records,
        integration="crm_contacts",
        state_conn_id=STATE_CONN,
        **kwargs,
    )


def test_staged_records_are_upserted_once_and_dead_letters_kept(
    make_sandbox: Any, connections: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox(contacts=0, fail_422=["user00007@example.com"])
    connections(sandbox.url)
    writer = StagedWriter(str(tmp_path / "staged"), part_size=40)
    writer.write(contacts(100))
    batch = writer.close().to_xcom()

    counts = operator(batch, redact=["first_name"]).execute(context())
    assert (counts["created"], counts["dead_lettered"]) == (99, 1)
    again = operator(batch["path"], redact=["first_name"]).execute(context("run_2"))
    assert (again["unchanged"], again["requests"]) == (99, 2)  # only the rejected record is tried

    with state_engine(STATE_CONN).connect() as conn:
        (entry,) = conn.execute(select(dead_letters)).all()
        metrics = conn.execute(select(run_metrics.c.run_id, run_metrics.c.counts)).all()
    assert (entry.record_key, entry.attempts, entry.run_id, entry.dag_id) == (
        "user00007@example.com",
        2,
        "run_2",
        "dag",
    )
    assert entry.payload["first_name"].startswith("redacted:")
    assert [(run_id, row["created"]) for run_id, row in metrics] == [("run_1", 99), ("run_2", 0)]
    assert set(sandbox.stats()["creates_by_key"].values()) == {1}


def test_a_long_wait_defers_and_the_resume_skips_what_was_written(
    make_sandbox: Any, connections: Any
) -> None:
    sandbox = make_sandbox(contacts=0, rate=2, burst=6)
    connections(sandbox.url, defer_after=0.5, max_retry_after=600)
    load = operator(contacts(30))
    with pytest.raises(TaskDeferred) as deferred:
        load.execute(context())
    assert deferred.value.method_name == "resume"
    written = sandbox.stats()["creates_total"]
    assert 0 < written < 30

    sandbox.configure(rate=0)
    counts = load.resume(context())
    assert counts["unchanged"] == written
    assert counts["created"] + counts["adopted"] == 30 - written
    creates = sandbox.stats()["creates_by_key"]
    assert (len(creates), max(creates.values())) == (30, 1)
