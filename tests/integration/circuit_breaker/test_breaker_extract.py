"""The breaker's bar with a shorter outage: the API goes down in the middle of an extract.

The task defers instead of retrying into the outage, exactly one alert says the breaker opened
and one that it closed, and after the resume the extract completes with every page fetched once.
"""

from __future__ import annotations

import json
import threading
import time
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
from reliable_api.staging.files import read_records
from reliable_api.testing.sandbox.server import SandboxServer

PAGE = 20
CONTACTS = 500
OPEN_SECONDS = 3.0


def go_down_after(sandbox: SandboxServer, pages: int, stop: threading.Event) -> None:
    """Make every request of the sandbox fail (503) once ``pages`` pages were served."""
    while not stop.is_set():
        if sandbox.stats()["responses_2xx"] >= pages:
            sandbox.configure(p_503=1.0)
            return
        time.sleep(0.01)


def test_an_outage_mid_extract_defers_alerts_once_each_way_and_loses_no_page(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(contacts=CONTACTS)
    conn_id = f"breaker_{tmp_path.name}"
    extra = {
        "limiter_backend": "memory",
        "breaker_failures": 3,
        "breaker_open_seconds": OPEN_SECONDS,
        "breaker_alert_conn_id": "breaker_alerts",
        "defer_after": 1.0,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
    }
    connections = {
        conn_id: {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra},
        "breaker_alerts": {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"},
    }
    for name, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id=conn_id,
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=PAGE),
        staging_root=str(tmp_path / "staged"),
        part_size=1,
    )
    context = {"ti": SimpleNamespace(dag_id="dag", run_id="run", task_id="extract", map_index=-1)}

    stop = threading.Event()
    outage = threading.Thread(target=go_down_after, args=(sandbox, 3, stop))
    outage.start()
    try:
        with pytest.raises(TaskDeferred) as deferred:
            extract.execute(context)
    finally:
        stop.set()
        outage.join()
    assert deferred.value.method_name == "resume"
    down = sandbox.stats()
    pages_before = down["responses_2xx"]
    assert 3 <= pages_before < CONTACTS // PAGE  # it stopped in the middle
    assert down["responses_5xx"] == 3  # the breaker opened after 3 failures: nothing more was sent
    (opened,) = [delivery["body"] for delivery in sandbox.webhooks("alerts")]
    assert (opened["kind"], opened["integration"]) == ("circuit_opened", conn_id)

    sandbox.configure(p_503=0.0)  # the API is back; the triggerer wakes the task when the time is up
    time.sleep(OPEN_SECONDS)
    summary = extract.resume(context)

    ids = [record["id"] for record in read_records(summary)]
    assert len(ids) == len(set(ids)) == CONTACTS
    assert sandbox.stats()["responses_2xx"] == CONTACTS // PAGE + 1  # every page once, and the empty one
    kinds = [delivery["body"]["kind"] for delivery in sandbox.webhooks("alerts")]
    assert kinds == ["circuit_opened", "circuit_closed"]
