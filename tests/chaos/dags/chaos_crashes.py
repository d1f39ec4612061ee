"""The crash and concurrency suite's pipeline: extract -> validate -> API upsert and DB upsert.

Two DAGs of one shape, run on demand only: ``chaos_crashes`` (the crash trials, and two runs of
one data interval at once) and ``chaos_crashes_twin`` (a second DAG writing the same targets).
A run's ``params`` choose its sources and targets, so that runs at once stay apart or meet:

- ``slot``: the connections ``crash_crm_<slot>``, ``crash_marketing_<slot>`` and
  ``crash_warehouse_<slot>`` (a CRM sandbox, a marketing sandbox, a warehouse file);
- ``trial``: the integration ``crash_<trial>`` (ledger, dead letters, metrics) and the
  warehouse table ``contacts_<trial>``.

Small pages, parts, creates one by one and small merge batches: each task has many points a
SIGKILL can land between. Every failed try alerts (no storm grouping, from the first try on), so
a test can match alerts to tries one for one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from reliable_api.alerting.callbacks import on_dead_letters_callback, on_failure_callback, on_retry_callback
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.operators.validate import ValidateRecordsOperator

ALERTS = WebhookNotifier(webhook_conn_id="reliable_api_alerts", format="json")
INTEGRATION = "crash_{{ params.trial }}"
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
    ignore_fields=("id", "updated_at"),
)
WAREHOUSE_TABLE = {
    "id": "text",
    "external_id": "text",
    "first_name": "text",
    "last_name": "text",
    "email": "text",
    "phone": "text",
    "company_id": "text",
    "birthday": "date",
    "signup_date": "date",
    "updated_at": "timestamp",
}


def pipeline(dag_id: str) -> DAG:
    """One DAG of the suite's shape."""
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        max_active_runs=8,
        params={"slot": Param("0", type="string"), "trial": Param("0", type="string")},
        default_args={
            "retries": 2,
            "retry_delay": timedelta(seconds=1),
            "on_retry_callback": on_retry_callback(ALERTS, from_try=1, storm_window=None),
            "on_failure_callback": on_failure_callback(ALERTS, storm_window=None),
            "on_success_callback": on_dead_letters_callback(ALERTS, storm_window=None),
        },
    ) as dag:
        extract = ApiExtractOperator(
            task_id="extract",
            http_conn_id="crash_crm_{{ params.slot }}",
            endpoint="/v1/contacts",
            paginator=PageNumberPaginator(size=20),
            part_size=40,
            integration=INTEGRATION,
        )
        valid = ValidateRecordsOperator(
            task_id="validate",
            records=extract.output,
            contract="contacts",
            integration=INTEGRATION,
            max_failure_ratio=0.5,
        )
        ApiUpsertOperator(
            task_id="push_marketing",
            http_conn_id="crash_marketing_{{ params.slot }}",
            resource=CONTACTS,
            records=valid.output,
            integration=INTEGRATION,
        )
        DbUpsertOperator(
            task_id="load_warehouse",
            conn_id="crash_warehouse_{{ params.slot }}",
            table="contacts_{{ params.trial }}",
            key=["id"],
            records=valid.output,
            create=WAREHOUSE_TABLE,
            batch_size=5,
            integration=INTEGRATION,
        )
    return dag


pipeline("chaos_crashes")
pipeline("chaos_crashes_twin")
