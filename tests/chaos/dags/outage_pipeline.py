"""The outage suite's pipeline: extract -> validate -> two API upserts in a row, run on demand only.

Each upsert keeps its ledger in the state DB (the ``reliable_api_state`` connection) and its
limit in Redis (``limiter_conn_id`` of its connection), sends one record per request, and is
retried by Airflow: the test takes the state DB away under the first and Redis under the second.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from reliable_api.alerting.callbacks import task_alert_callbacks
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.operators.validate import ValidateRecordsOperator

ALERTS = WebhookNotifier(webhook_conn_id="reliable_api_alerts")
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
    ignore_fields=("id", "updated_at"),
)

with DAG(
    "outage_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    # An outage fails one try: alert from that first retry (the default waits for the second).
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=3),
        **task_alert_callbacks(ALERTS, retry_from_try=1),
    },
):
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id="reliable_api_sandbox",
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        integration="outage_contacts",
    )
    valid = ValidateRecordsOperator(
        task_id="validate",
        records=extract.output,
        contract="contacts",
        integration="outage_contacts",
        max_failure_ratio=0.5,
    )
    # Two targets, two integrations: each upsert has a ledger of its own.
    push_marketing = ApiUpsertOperator(
        task_id="push_marketing",
        http_conn_id="reliable_api_marketing",
        resource=CONTACTS,
        records=valid.output,
        integration="outage_marketing",
    )
    push_ads = ApiUpsertOperator(
        task_id="push_ads",
        http_conn_id="reliable_api_ads",
        resource=CONTACTS,
        records=valid.output,
        integration="outage_ads",
    )
    push_marketing >> push_ads
