"""Every pool a sample DAG names is in ``dags/pools.json``, which the demo and the compose init import."""

from __future__ import annotations

import json
import os
from pathlib import Path

POOLS_FILE = Path(__file__).resolve().parents[2] / "dags" / "pools.json"


def test_every_sample_task_takes_a_pool_from_the_pools_file() -> None:
    from tests.airflow_compat import DagBag

    pools = json.loads(POOLS_FILE.read_text())
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    used = {task.pool for dag in bag.dags.values() for task in dag.tasks}
    assert used - {"default_pool"} <= set(pools), sorted(used - set(pools))
    assert {"reliable_api_sandbox", "reliable_api_marketing", "reliable_api_warehouse"} <= used
    assert all(pool["include_deferred"] for pool in pools.values())  # a deferred task keeps its slot
