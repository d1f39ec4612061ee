"""Zero silent failures: every failure path of every operator alerts, and loses no record.

Each case runs a real DAG (one operator, our callbacks in ``default_args``) with ``dag.test()``
against the sandbox API, and reads the sandbox's webhook sink: a task failure gives one alert
naming the DAG, task, run and error class; a record-level failure (the task succeeds within its
failure budget, or fails it) gives an alert whose dead-letter count equals the DLQ entries, which
equal the records that failed. The paths only a running scheduler shows (a SIGKILLed task, a
missed deadline) are in ``tests/e2e/test_alert_paths_e2e.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from reliable_api.state.schema import dead_letters
from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

#: How soon after the failure an alert must arrive (issue 6).
ALERT_WITHIN_SECONDS = 60

# dag.test() runs what the DAG folder's bundle holds, so the DAGs are a file, as users write them.
DAG_FILE = """
import os

from airflow.sdk import DAG, task

from reliable_api.alerting.callbacks import on_dead_letters_callback, on_failure_callback
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.operators.replay import ReplayDeadLettersOperator
from reliable_api.operators.validate import ValidateRecordsOperator

ALERTS = WebhookNotifier(webhook_conn_id="matrix_alerts", format="json")
DEFAULTS = {
    "retries": 0,
    "on_failure_callback": on_failure_callback(ALERTS),
    "on_success_callback": on_dead_letters_callback(ALERTS),
}
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
)


@task
def staged(kind: str) -> dict:
    from datetime import datetime, timezone

    from reliable_api.staging.files import StagedWriter
    from reliable_api.testing.sandbox.data import generate_contacts

    if kind == "messy":
        records = list(generate_contacts(300, seed=11, now=datetime(2026, 11, 1, tzinfo=timezone.utc)))
    else:
        records = [{"id": n, "email": f"u{n}@example.com"} for n in range(98)]
        records += [{"email": "no id"}, {"email": "no id either"}]
    writer = StagedWriter(os.path.join(os.environ["MATRIX_STAGING"], kind))
    writer.write(records)
    return writer.close().to_xcom()


def extract(dag_id: str, endpoint: str = "/v1/contacts") -> None:
    with DAG(dag_id, schedule=None, default_args=DEFAULTS):
        ApiExtractOperator(
            task_id="extract",
            http_conn_id="matrix_api",
            endpoint=endpoint,
            paginator=PageNumberPaginator(size=50),
            max_pages=2,
        )


extract("matrix_transient_exhausted")
extract("matrix_permanent_task", endpoint="/v1/no_such_resource")
extract("matrix_auth")
extract("matrix_configuration")

with DAG("matrix_permanent_record", schedule=None, default_args=DEFAULTS):
    ApiUpsertOperator(
        task_id="upsert",
        http_conn_id="matrix_api",
        resource=CONTACTS,
        records=[{"email": f"user{n:03d}@example.com", "first_name": f"U{n}"} for n in range(100)],
        integration="matrix_crm",
    )

with DAG("matrix_db_record", schedule=None, default_args=DEFAULTS):
    DbUpsertOperator(
        task_id="load",
        conn_id="matrix_db",
        table="matrix_contacts",
        key=["id"],
        records=staged("keys"),
        create={"id": "integer", "email": "text"},
    )

with DAG("matrix_validation_budget", schedule=None, default_args=DEFAULTS):
    ValidateRecordsOperator(
        task_id="validate", records=staged("messy"), contract="contacts", integration="matrix_contacts"
    )

with DAG("matrix_replay_configuration", schedule=None, default_args=DEFAULTS):
    ReplayDeadLettersOperator(task_id="replay", integration="matrix_crm", ids="one,two")
"""


@dataclass
class Case:
    """A failure path: how the sandbox and the API connection are set, and what must follow."""

    dag_id: str
    run_state: str
    alert_kind: str
    error_class: str | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)
    api_extra: dict[str, Any] = field(default_factory=dict)
    #: records that fail for good: DLQ entries and the alert's count must both equal it
    dead_lettered: int | None = None
    #: the DB upsert target is PostgreSQL (the fresh test database)
    target_db: bool = False


REJECTED_EMAILS = ["user007@example.com", "user042@example.com"]
CASES = [
    Case(
        "matrix_transient_exhausted",
        "failed",
        "task_failure",
        "ServerError",
        sandbox={"p_503": 1.0},
        api_extra={"max_retries": 2},
    ),
    Case("matrix_permanent_task", "failed", "task_failure", "RecordRejected"),
    Case("matrix_auth", "failed", "task_failure", "AuthenticationError", sandbox={"api_keys": ["k_live"]}),
    Case(
        "matrix_configuration",
        "failed",
        "task_failure",
        "ConfigurationError",
        api_extra={"rate_limit": "fast"},
    ),
    Case(
        "matrix_permanent_record",
        "success",
        "records_dead_lettered",
        sandbox={"contacts": 0, "fail_422": REJECTED_EMAILS},
        dead_lettered=2,
    ),
    Case("matrix_db_record", "success", "records_dead_lettered", dead_lettered=2, target_db=True),
    Case("matrix_validation_budget", "failed", "task_failure", "FailureBudgetExceeded"),
    Case("matrix_replay_configuration", "failed", "task_failure", "ConfigurationError"),
]


def postgres_connection(url: str) -> dict[str, Any]:
    """A ``postgres`` Airflow connection to ``url``'s database, whose ``matrix_contacts`` is new."""
    parsed = make_url(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS matrix_contacts")
    engine.dispose()
    return {
        "conn_type": "postgres",
        "host": parsed.host,
        "port": parsed.port,
        "login": parsed.username,
        "schema": parsed.database,
    }


@pytest.fixture(scope="module")
def dag_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("matrix_dags")
    (folder / "failure_matrix.py").write_text(DAG_FILE)
    return folder


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("case", CASES, ids=[case.dag_id.removeprefix("matrix_") for case in CASES])
def test_every_failure_alerts_and_every_failed_record_is_dead_lettered(
    case: Case,
    make_sandbox: Any,
    dag_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    from tests.airflow_compat import AIRFLOW_V_3_3_PLUS, DagBag

    sandbox: SandboxServer = make_sandbox(**case.sandbox)
    state_db = tmp_path / "state.db"
    connections = {
        "matrix_api": {
            "conn_type": "reliable_http",
            "host": sandbox.url,
            "extra": {"limiter_backend": "memory", "backoff_base": 0.01, **case.api_extra},
        },
        "matrix_alerts": {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"},
        "reliable_api_state": {"conn_type": "sqlite", "host": str(state_db)},
    }
    if case.target_db:
        connections["matrix_db"] = postgres_connection(request.getfixturevalue("postgres_url"))
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    monkeypatch.setenv("MATRIX_STAGING", str(tmp_path / "staged"))
    bundle = {
        "name": "failure-matrix",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dag_folder)},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    dag = DagBag(dag_folder=str(dag_folder)).get_dag(case.dag_id)
    assert dag is not None

    run = dag.test()
    ended = datetime.now(timezone.utc)

    assert run.state == case.run_state
    alerts = [
        delivery for delivery in sandbox.webhooks("alerts") if delivery["body"]["dag_id"] == case.dag_id
    ]
    assert len(alerts) == 1, [alert["body"]["title"] for alert in alerts]
    alert = alerts[0]["body"]
    received = datetime.fromisoformat(alerts[0]["received_at"].replace("Z", "+00:00"))
    assert (received - ended).total_seconds() < ALERT_WITHIN_SECONDS
    assert (alert["kind"], alert["run_id"]) == (case.alert_kind, run.run_id)
    assert alert["task_id"] is not None
    # Before 3.3, dag.test() runs the callbacks without context["exception"] (workers set it).
    if case.error_class is not None and AIRFLOW_V_3_3_PLUS:
        assert alert["error_class"] == case.error_class

    engine = create_engine(f"sqlite:///{state_db}")
    with engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
    engine.dispose()
    assert alert["dead_lettered"] == entries
    if case.dead_lettered is not None:
        assert entries == case.dead_lettered
    if case.dag_id == "matrix_validation_budget":
        assert entries > 0.05 * 300  # every rejected row is in the DLQ, beyond the 5% budget
        if AIRFLOW_V_3_3_PLUS:  # the message is the exception's, missing before 3.3 (above)
            assert str(entries) in alert["message"]  # "failed 97 of 300 records ..."
