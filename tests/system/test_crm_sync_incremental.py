"""``crm_contacts_sync`` reads only what changed since its last success, and its load updates the
table's Asset, on which ``crm_contacts_report`` is scheduled."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def extracted(run: Any) -> int:
    """The records the run's extract staged (its XCom)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = (
            session.query(XComModel.value)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="extract", key="return_value")
            .scalar()
        )
    return int((json.loads(value) if isinstance(value, str) else value)["records"])


@pytest.mark.usefixtures("airflow_db")
def test_the_second_sync_reads_only_changed_contacts_and_the_load_updates_the_asset(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from reliable_api.operators.assets import table_asset
    from tests.airflow_compat import DagBag, run_dag_test

    crm = make_sandbox(contacts=200)
    warehouse = tmp_path / "warehouse.db"
    connections = {
        "RELIABLE_API_SANDBOX": {"conn_type": "reliable_http", "host": crm.url},
        "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
        "RELIABLE_API_WAREHOUSE": {"conn_type": "sqlite", "host": str(warehouse)},
        "RELIABLE_API_ALERTS": {"conn_type": "http", "password": f"{crm.url}/_sandbox/webhook/alerts"},
    }
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(conn))
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    sync = bag.get_dag("crm_contacts_sync")
    asset = table_asset("reliable_api_warehouse", "crm_contacts")
    assert sync.get_task("load_warehouse").outlets == [asset]

    first = run_dag_test(sync, first_run=True)
    assert first.state == "success"
    assert extracted(first) == 200  # no earlier success: everything
    with sqlite3.connect(warehouse) as db:
        good_id = db.execute("SELECT id FROM crm_contacts ORDER BY id LIMIT 1").fetchone()[0]
    changed = httpx.patch(f"{crm.url}/v1/contacts/{good_id}", json={"first_name": "Changed"}, timeout=10)
    assert changed.status_code == 200, changed.text

    second = run_dag_test(sync)
    assert second.state == "success"
    # Only contacts changed since the first run started (less the 10-minute margin): the one
    # changed above, and any of the 200 whose generated updated_at falls in those minutes.
    assert 1 <= extracted(second) < 20
    with sqlite3.connect(warehouse) as db:
        assert db.execute("SELECT first_name FROM crm_contacts WHERE id = ?", (good_id,)).fetchone() == (
            "Changed",
        )

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(
                AssetModel.name == asset.name, AssetEvent.source_run_id.in_([first.run_id, second.run_id])
            )
            .count()
        )
    assert events == 2  # each successful load updated the Asset
    report = bag.get_dag("crm_contacts_report")
    assert report.timetable.asset_condition.objects == (asset,)
    assert run_dag_test(report).state == "success"
