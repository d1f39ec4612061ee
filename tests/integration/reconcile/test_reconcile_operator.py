"""``ApiUpsertOperator(reconcile=...)``: drift found by a run is in its result and its run metrics."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from reliable_api.exceptions import ConfigurationError
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.idempotency.api_resource import ApiResource
from reliable_api.idempotency.ledger import Ledger
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.state.engine import state_engine
from reliable_api.state.schema import run_metrics

HTTP_CONN = "reconcile_operator_api"
STATE_CONN = "reconcile_operator_state"
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
)


def context(run_id: str) -> Any:
    return {"ti": SimpleNamespace(dag_id="dag", run_id=run_id, task_id="push", map_index=-1, try_number=1)}


def test_a_full_pass_reports_the_drift_in_the_result_and_the_run_metrics(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_sandbox(contacts=0)
    state = {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{tmp_path / 'state.db'}"}}
    conn = {"conn_type": "reliable_http", "host": api.url, "extra": {"limiter_backend": "memory"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN.upper()}", json.dumps(state))
    monkeypatch.setenv(f"AIRFLOW_CONN_{HTTP_CONN.upper()}", json.dumps(conn))
    records = [{"email": f"user{n}@example.com", "first_name": f"User {n}"} for n in range(20)]

    def push(run_id: str, reconcile: Any) -> dict[str, int]:
        operator = ApiUpsertOperator(
            task_id="push",
            http_conn_id=HTTP_CONN,
            resource=CONTACTS,
            records=records,
            integration="reconciled_contacts",
            state_conn_id=STATE_CONN,
            reconcile=reconcile,
        )
        return operator.execute(context(run_id))

    assert push("run_1", None)["created"] == 20
    engine = state_engine(STATE_CONN)
    gone = Ledger(engine, "reconciled_contacts").get_many(["user7@example.com"])["user7@example.com"]
    ReliableHttpHook(http_conn_id=HTTP_CONN).request("DELETE", f"/v1/contacts/{gone.remote_id}")

    result = push("run_2", "full")
    assert (result["reconcile_checked"], result["reconcile_missing"], result["reconcile_recreated"]) == (
        20,
        1,
        1,
    )
    assert (result["created"], result["unchanged"]) == (1, 19)
    with engine.connect() as db:
        counts = [row.counts for row in db.execute(select(run_metrics).order_by(run_metrics.c.id))]
    assert counts[-1]["reconcile_missing"] == 1
    assert counts[-1]["reconcile_checked"] == 20


def test_an_undeclared_policy_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ConfigurationError, match="reconcile policy must be one of recreate, dead_letter"):
        ApiUpsertOperator(
            task_id="push",
            http_conn_id=HTTP_CONN,
            resource=CONTACTS,
            records=[],
            integration="x",
            reconcile={"mode": "full", "policy": "recrate"},
        )
