"""The breaker's bar through ``dag.test()``: the API goes down mid-extract, then comes back.

The extract task defers while the breaker is open (``dag.test()`` runs its trigger in-process),
resumes from its checkpoint, and completes with every page fetched once; the webhook gets one
"opened" and one "closed" alert. ``RELIABLE_API_BREAKER_OUTAGE`` sets the outage (default 6 s;
the issue's bar is 60).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

DAGS = Path(__file__).parent / "dags"
OUTAGE = float(os.environ.get("RELIABLE_API_BREAKER_OUTAGE", "6"))
CONTACTS, PAGE = 500, 20


def outage(sandbox: SandboxServer, after_pages: int, stop: threading.Event) -> None:
    """Take the API down once ``after_pages`` pages were served, for ``OUTAGE`` seconds."""
    while not stop.is_set() and sandbox.stats()["responses_2xx"] < after_pages:
        time.sleep(0.01)
    sandbox.configure(p_503=1.0)
    stop.wait(OUTAGE)
    sandbox.configure(p_503=0.0)


@pytest.mark.usefixtures("airflow_db")
def test_the_extract_defers_through_an_outage_and_fetches_every_page_once(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_compat import DagBag

    sandbox = make_sandbox(contacts=CONTACTS)
    extra = {
        "limiter_backend": "memory",
        "breaker_failures": 3,
        "breaker_open_seconds": max(2.0, OUTAGE / 3),
        "breaker_alert_conn_id": "breaker_alerts",
        "defer_after": 1.0,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
    }
    connections = {
        "breaker_api": {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra},
        "breaker_alerts": {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"},
        "reliable_api_state": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
    }
    for name, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))
    bundle = {
        "name": "breaker",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(DAGS)},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    dag = DagBag(dag_folder=str(DAGS)).get_dag("breaker_extract")
    assert dag is not None

    stop = threading.Event()
    down = threading.Thread(target=outage, args=(sandbox, 3, stop))
    down.start()
    try:
        run = dag.test()
    finally:
        stop.set()
        down.join()
    assert run.state == "success"
    (ti,) = run.get_task_instances()
    assert ti.try_number == 1  # deferred and resumed, never failed
    stats = sandbox.stats()
    assert stats["responses_2xx"] == CONTACTS // PAGE + 1  # every page once, and the empty one
    kinds = [delivery["body"]["kind"] for delivery in sandbox.webhooks("alerts")]
    assert kinds == ["circuit_opened", "circuit_closed"]
