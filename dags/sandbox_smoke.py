"""Smoke test of the wiring: read one page of contacts from the sandbox API through the provider.

Stands in until the sample pipelines exist; ``make demo --once`` and the e2e test run it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

SANDBOX_CONN_ID = "reliable_api_sandbox"


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reliable_api", "demo"],
    doc_md=__doc__,
)
def sandbox_smoke() -> None:
    @task(retries=2)
    def fetch_first_page() -> dict[str, int]:
        from reliable_api.hooks.http import ReliableHttpHook

        hook = ReliableHttpHook(method="GET", http_conn_id=SANDBOX_CONN_ID)
        body = hook.run("/v1/contacts", data={"page": 1, "per_page": 25}).json()
        return {"records": len(body["data"]), "total": body["total"]}

    fetch_first_page()


sandbox_smoke()
