"""A spent quota defers the task to the triggerer: it never sleeps in the worker, never fails."""

from __future__ import annotations

import functools
import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1 and 3.2
    from airflow.exceptions import TaskDeferred

from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.throttle import limiter as limiter_module


def test_a_spent_quota_defers_until_it_reopens_and_never_sleeps_in_the_worker(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(rate=0)  # the API itself does not limit: our quota of 3 an hour binds
    conn_id = f"quota_{uuid.uuid4().hex[:8]}"
    extra = {"rate_limit": "50/s, 3/h", "limiter_backend": "memory"}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}),
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # records every wait; a long one would not hang the test
        slept.append(seconds)
        time.sleep(min(seconds, 1.0))

    monkeypatch.setattr(
        limiter_module, "SharedRateLimiter", functools.partial(limiter_module.SharedRateLimiter, sleep=sleep)
    )
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id=conn_id,
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        staging_root=str(tmp_path),
        part_size=1,
    )
    context = {"ti": SimpleNamespace(dag_id="dag", run_id="run_1", task_id="extract", map_index=-1)}

    with pytest.raises(TaskDeferred) as deferred:
        extract.execute(context)
    # three pages went through, then the quota's next unit is 20 minutes (+ the margin) away
    assert sandbox.stats()["responses_2xx"] == 3
    assert deferred.value.method_name == "resume"
    moment = deferred.value.trigger.moment
    assert (moment - datetime.now(timezone.utc)).total_seconds() == pytest.approx(1200 * 1.02, abs=60)
    assert sum(slept) < 1.0  # only the 50/s pacing between the three pages

    # Woken early (or by a triggerer whose clock ran ahead), the task defers again: it neither
    # fetches a page beyond the quota nor fails.
    with pytest.raises(TaskDeferred):
        extract.resume(context)
    assert sandbox.stats()["responses_2xx"] == 3
    assert sum(slept) < 1.0
