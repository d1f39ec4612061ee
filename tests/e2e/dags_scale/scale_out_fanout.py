"""Many mapped tasks on several Celery workers, all calling the sandbox under one shared limit.

Each task sends ``REQUESTS_PER_TASK`` requests through ``ReliableHttpHook``; the connection's
``rate_limit`` lives in Redis, so every worker counts against the same limit. The limit key is
the run id: a run's limit starts idle and its Redis key can be removed after. The pool from
``deploy/pools.json`` caps how many tasks call the API at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import dag, task

SANDBOX_CONN_ID = "reliable_api_sandbox"
POOL = "reliable_api_sandbox"
TASKS = 8
REQUESTS_PER_TASK = 10


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["reliable_api", "e2e"])
def scale_out_fanout() -> None:
    @task(pool=POOL)
    def call_sandbox(batch: int, **context: Any) -> dict[str, Any]:
        from reliable_api.hooks.http import ReliableHttpHook

        hook = ReliableHttpHook(method="GET", http_conn_id=SANDBOX_CONN_ID, limit_key=context["run_id"])
        for page in range(1, REQUESTS_PER_TASK + 1):
            hook.run("/v1/contacts", data={"page": page, "per_page": 5}).json()
        counters = hook.counters
        return {"batch": batch, "requests": counters.requests, "rate_limited": counters.rate_limited}

    call_sandbox.expand(batch=list(range(TASKS)))


scale_out_fanout()
