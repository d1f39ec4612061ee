"""The stock ``HttpOperator`` on a ``reliable_http`` connection keeps the shared limit.

8 mapped tasks, each walking 10 pages with HttpOperator's own ``pagination_function``, through
``dag.test()``, with ``deferrable`` off and on: the sandbox (no limit of its own) never sees more
than ``RATE + BURST`` requests in any second, and never one of the connection's settings as a
header (the http provider sends every extra key it does not know as one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reliable_api.http.setting_fields import SETTING_NAMES

pytestmark = [
    pytest.mark.slow,
    # The http provider's own process_response imports a name Airflow 3.3 deprecates: not ours.
    pytest.mark.filterwarnings("ignore:.*airflow.utils.operator_helpers.determine_kwargs"),
]

DAGS = Path(__file__).parent / "dags"
RATE, BURST, TASKS, PAGES = 5, 1, 8, 5


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    "dag_id", ["http_operator_sync", "http_operator_deferrable", "reliable_http_operator_deferrable"]
)
def test_mapped_http_operators_keep_the_shared_limit(
    dag_id: str, make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_compat import DagBag

    sandbox = make_sandbox(contacts=PAGES * 10)
    extra = {"rate_limit": f"{RATE}/s", "burst": BURST, "limiter_backend": "memory", "X-Team": "data-eng"}
    connections = {
        "limited_api": {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra},
        "reliable_api_state": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
    }
    for name, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))
    bundle = {
        "name": "http_operator",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(DAGS)},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    dag = DagBag(dag_folder=str(DAGS)).get_dag(dag_id)
    assert dag is not None

    run = dag.test()

    assert run.state == "success"
    walks = [ti for ti in run.get_task_instances() if ti.task_id == "walk_contacts"]
    assert len(walks) == TASKS
    assert all(ti.state == "success" and ti.try_number == 1 for ti in walks)
    stats = sandbox.stats()
    assert stats["responses_2xx"] == TASKS * PAGES  # every page of every task once (/v1 only)
    assert stats["rate_limited"] == 0
    assert stats["max_requests_per_second"] <= RATE + BURST, stats
    [received] = sandbox.webhooks("headers")
    sent = {name.lower() for name in received["headers"]}
    assert "x-team" in sent  # an ordinary extra key is still a header, as with HttpHook
    assert not sent & {name.lower() for name in SETTING_NAMES}
    assert not sent & {name.replace("_", "-").lower() for name in SETTING_NAMES}
