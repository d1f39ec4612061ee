"""HttpOperator on a ``reliable_http`` connection: 8 mapped tasks walking pages, three ways.

The stock operator, deferrable or not, and ``ReliableHttpOperator``, deferrable (its own trigger).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG

from reliable_api.operators.http import ReliableHttpOperator

PER_PAGE = 10


def next_page(response: Any) -> dict[str, Any] | None:
    """HttpOperator's pagination_function: the sandbox names the next page, or none."""
    page = response.json()["next_page"]
    return {"data": {"page": page, "per_page": PER_PAGE}} if page else None


VARIANTS = [
    ("http_operator_sync", HttpOperator, False),
    ("http_operator_deferrable", HttpOperator, True),
    ("reliable_http_operator_deferrable", ReliableHttpOperator, True),
]
for dag_id, operator, deferrable in VARIANTS:
    with DAG(
        dag_id,
        start_date=datetime(2026, 1, 1),
        schedule=None,
    ):
        operator.partial(
            task_id="walk_contacts",
            http_conn_id="limited_api",
            method="GET",
            endpoint="/v1/contacts",
            data={"page": 1, "per_page": PER_PAGE},
            pagination_function=next_page,
            deferrable=deferrable,
        ).expand(headers=[{"X-Task": str(number)} for number in range(8)])
        operator(
            task_id="post_headers",
            http_conn_id="limited_api",
            method="POST",
            endpoint="/_sandbox/webhook/headers",
            data='{"ping": 1}',
            headers={"Content-Type": "application/json"},
            deferrable=deferrable,
        )
