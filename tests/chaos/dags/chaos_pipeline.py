"""The chaos suite's pipeline: extract -> validate -> API upsert and DB upsert, run on demand only.

The sample DAGs' building blocks and settings, with no schedule of its own, so that the one run
the test triggers is the only one writing to the target API, the warehouse and the dead letters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from reliable_api.alerting.callbacks import task_alert_callbacks
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.operators.validate import ValidateRecordsOperator

INTEGRATION = "chaos_contacts"
ALERTS = WebhookNotifier(webhook_conn_id="reliable_api_alerts")
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
    batch_create_path="/v1/contacts/batch",
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

with DAG(
    "chaos_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={"retries": 3, "retry_delay": timedelta(seconds=5), **task_alert_callbacks(ALERTS)},
):
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id="reliable_api_sandbox",
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
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
        http_conn_id="reliable_api_marketing",
        resource=CONTACTS,
        records=valid.output,
        integration=INTEGRATION,
        redact=("phone",),
    )
    DbUpsertOperator(
        task_id="load_warehouse",
        conn_id="reliable_api_warehouse",
        table="contacts",
        key=["id"],
        records=valid.output,
        create=WAREHOUSE_TABLE,
        integration=INTEGRATION,
    )
