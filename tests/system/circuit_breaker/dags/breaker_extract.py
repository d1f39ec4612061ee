"""An extract from an API that goes down for a while: the task defers on the open breaker."""

from __future__ import annotations

from airflow.sdk import DAG

from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.operators.extract import ApiExtractOperator

with DAG("breaker_extract", schedule=None):
    ApiExtractOperator(
        task_id="extract",
        http_conn_id="breaker_api",
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=20),
        part_size=1,
    )
