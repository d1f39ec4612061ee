"""Every provider operator writes one metrics row per try over the sandbox API: success, failure, deferral."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import ConfigurationError, FailureBudgetExceeded, RecordRejected, ServerError
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.monitoring.runs import RunRow, load_runs
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.operators.replay import ReplayDeadLettersOperator
from reliable_api.operators.validate import ValidateRecordsOperator
from reliable_api.staging.files import StagedWriter
from reliable_api.state.task import TaskIdentity
from reliable_api.testing.sandbox.server import SandboxServer

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1 and 3.2
    from airflow.exceptions import TaskDeferred

API_CONN = "monitoring_api"
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
)


@pytest.fixture
def use_api(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point :data:`API_CONN` at the sandbox with the given extra settings."""

    def use(**extra: Any) -> None:
        conn = {
            "conn_type": "reliable_http",
            "host": sandbox.url,
            "extra": {"limiter_backend": "memory", "backoff_base": 0.01, **extra},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{API_CONN.upper()}", json.dumps(conn))

    use()
    return use


def context(task_id: str, try_number: int = 1) -> Any:
    ti = SimpleNamespace(dag_id="dag", run_id="run_1", task_id=task_id, map_index=-1, try_number=try_number)
    return {"ti": ti}


def rows(engine: Engine, integration: str) -> list[RunRow]:
    return load_runs(engine, integration=integration)


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"email": f"user{n:03d}@example.com", "first_name": f"U{n}"} for n in range(start, start + count)]


def upsert(records: list[dict[str, Any]]) -> ApiUpsertOperator:
    return ApiUpsertOperator(
        task_id="load",
        http_conn_id=API_CONN,
        resource=CONTACTS,
        records=records,
        integration="crm",
        max_failure_ratio=0.5,
    )


def test_api_upsert_records_a_successful_and_a_failed_try(
    state_db: Engine, sandbox: SandboxServer, use_api: Any
) -> None:
    sandbox.configure(fail_422=["user007@example.com"])
    upsert(people(20)).execute(context("load"))
    sandbox.configure(p_503=1.0)
    use_api(max_retries=1)
    with pytest.raises(ServerError):
        upsert(people(5, start=100)).execute(context("load", try_number=2))

    success, failure = rows(state_db, "crm")
    assert (success.outcome, success.error_class, success.try_number) == ("success", None, 1)
    assert success.counts["created"] == 19  # the operator's own counts are kept
    volume = {name: success.measure(name) for name in ("records_in", "records_written", "dead_lettered")}
    assert volume == {"records_in": 20, "records_written": 19, "dead_lettered": 1}
    assert success.measure("requests") >= 20
    assert success.measure("rate_limited") == 0
    assert success.duration_s is not None
    assert success.duration_s > 0

    assert (failure.outcome, failure.error_class, failure.try_number) == ("failed", "ServerError", 2)
    assert (failure.measure("requests"), failure.measure("retries")) == (2, 1)  # 1 try + 1 retry
    assert failure.measure("records_in") is None  # it never got that far


def test_api_upsert_records_a_deferred_try(state_db: Engine, sandbox: SandboxServer, use_api: Any) -> None:
    sandbox.configure(rate=2, burst=6)
    use_api(defer_after=0.5, max_retry_after=600)
    with pytest.raises(TaskDeferred):
        upsert(people(30)).execute(context("load"))
    (deferred,) = rows(state_db, "crm")
    assert (deferred.outcome, deferred.error_class) == ("deferred", None)
    assert deferred.measure("rate_limited") >= 1


def extract(tmp_path: Path, endpoint: str = "/v1/contacts") -> ApiExtractOperator:
    return ApiExtractOperator(
        task_id="extract",
        http_conn_id=API_CONN,
        endpoint=endpoint,
        paginator=PageNumberPaginator(size=250),
        staging_root=str(tmp_path),
        integration="crm",
    )


def test_extract_records_volume_and_throttling(
    state_db: Engine, sandbox: SandboxServer, use_api: Any, tmp_path: Path
) -> None:
    sandbox.configure(rate=20, burst=1)  # the sandbox answers 429 to back-to-back pages
    summary = extract(tmp_path).execute(context("extract"))
    sandbox.configure(rate=0)
    with pytest.raises(RecordRejected):
        extract(tmp_path, "/v1/no_such_resource").execute(context("extract_missing"))

    success, failure = rows(state_db, "crm")
    assert success.outcome == "success"
    assert success.measure("records_out") == success.measure("records_written") == summary["records"] == 500
    assert success.measure("rate_limited") >= 1
    assert success.measure("retries") >= success.measure("rate_limited")
    assert success.measure("requests") == summary["requests"]
    assert (failure.outcome, failure.error_class, failure.task_id) == (
        "failed",
        "RecordRejected",
        "extract_missing",
    )
    assert failure.measure("requests") == 1


def stage(tmp_path: Path, records: list[Any]) -> dict[str, Any]:
    writer = StagedWriter(str(tmp_path / "staged"))
    writer.write(records)
    return writer.close().to_xcom()


def test_db_upsert_records_a_try_that_failed_its_budget(
    state_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
    monkeypatch.setenv("AIRFLOW_CONN_MONITORING_WAREHOUSE", json.dumps(warehouse))
    records = [{"id": n, "email": f"u{n}@example.com"} for n in range(98)] + [{"email": "x"}, {"email": "y"}]
    load = DbUpsertOperator(
        task_id="load",
        conn_id="monitoring_warehouse",
        table="contacts",
        key=["id"],
        records=stage(tmp_path, records),
        create={"id": "integer", "email": "text"},
        integration="warehouse",
        max_failure_ratio=0.0,
    )
    with pytest.raises(FailureBudgetExceeded):
        load.execute(context("load"))
    (failure,) = rows(state_db, "warehouse")
    assert (failure.outcome, failure.error_class) == ("failed", "FailureBudgetExceeded")
    measured = {name: failure.measure(name) for name in ("records_in", "records_written", "dead_lettered")}
    assert measured == {"records_in": 100, "records_written": 98, "dead_lettered": 2}
    assert failure.measure("requests") is None  # no HTTP in a DB load


def test_validate_records_a_try_that_failed_its_budget(state_db: Engine, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from reliable_api.testing.sandbox.data import generate_contacts

    messy = list(generate_contacts(300, seed=11, now=datetime(2026, 11, 1, tzinfo=timezone.utc)))
    validate = ValidateRecordsOperator(
        task_id="validate",
        records=stage(tmp_path, messy),
        contract="contacts",
        integration="crm",
        staging_root=str(tmp_path / "valid"),
    )
    with pytest.raises(FailureBudgetExceeded):
        validate.execute(context("validate"))
    (failure,) = rows(state_db, "crm")
    assert (failure.outcome, failure.error_class) == ("failed", "FailureBudgetExceeded")
    rejected = failure.measure("dead_lettered")
    assert rejected is not None
    assert rejected > 15
    assert failure.measure("records_in") == 300
    assert failure.measure("records_out") == 300 - rejected
    assert failure.counts["reasons"]  # the per-reason counts stay with the row


def test_replay_records_success_and_failure(state_db: Engine, tmp_path: Path) -> None:
    store = DeadLetterStore(state_db)
    for key in ("a", "b"):
        store.add("crm", key, {"email": key}, RecordRejected("bad", status=422), TaskIdentity())

    def replay(ids: str = "") -> ReplayDeadLettersOperator:
        return ReplayDeadLettersOperator(
            task_id="replay", integration="crm", ids=ids, staging_root=str(tmp_path)
        )

    replay().execute(context("replay"))
    with pytest.raises(ConfigurationError):
        replay("one,two").execute(context("replay", try_number=2))
    success, failure = rows(state_db, "crm")
    assert (success.outcome, success.measure("records_out")) == ("success", 2)
    assert (failure.outcome, failure.error_class) == ("failed", "ConfigurationError")
