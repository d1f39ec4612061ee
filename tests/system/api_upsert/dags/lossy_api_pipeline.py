"""A user's own pipeline into an API with no Idempotency-Key support that fails and loses answers.

Extract with ``LinkHeaderPaginator`` -> validate against the contacts contract -> upsert by email
into a second API (keys off, a lookup by email); tasks with retries, as the issue's user had them.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from reliable_api.http.pagination import LinkHeaderPaginator
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.operators.validate import ValidateRecordsOperator

INTEGRATION = "lossy_contacts"
TARGET = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
    supports_idempotency_keys=False,
    ignore_fields=("id", "updated_at"),
)

with DAG(
    "lossy_api_pipeline",
    schedule=None,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=1)},
):
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id="lossy_source",
        endpoint="/v1/contacts",
        query={"per_page": 200},
        paginator=LinkHeaderPaginator(),
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
        task_id="load",
        http_conn_id="lossy_target",
        resource=TARGET,
        records=valid.output,
        integration=INTEGRATION,
    )
