"""Replay through the API load path: after the cause is fixed, each record is delivered once."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reliable_api.deadletter.queue import DeadLetterQueue
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.operators.replay import ReplayDeadLettersOperator
from reliable_api.state.engine import state_engine

API_CONN = "replay_api"
STATE_CONN = "replay_state"
BROKEN = ["user003@example.com", "user011@example.com", "user017@example.com"]
CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
)


@pytest.fixture
def sandbox(make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox = make_sandbox(contacts=0, fail_404=BROKEN)
    api = {"conn_type": "reliable_http", "host": sandbox.url, "extra": {"limiter_backend": "memory"}}
    state = {"conn_type": "sqlite", "host": str(tmp_path / "state.db")}
    monkeypatch.setenv(f"AIRFLOW_CONN_{API_CONN.upper()}", json.dumps(api))
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN.upper()}", json.dumps(state))
    return sandbox


def context(task_id: str, run_id: str) -> Any:
    ti = SimpleNamespace(dag_id="crm", run_id=run_id, task_id=task_id, map_index=-1, try_number=1)
    return {"ti": ti}


def upsert(records: Any, run_id: str) -> dict[str, Any]:
    operator = ApiUpsertOperator(
        task_id="upsert",
        http_conn_id=API_CONN,
        resource=CONTACTS,
        records=records,
        integration="crm_contacts",
        state_conn_id=STATE_CONN,
        max_failure_ratio=0.5,
    )
    return dict(operator.execute(context("upsert", run_id)))


def replay(tmp_path: Path, run_id: str) -> dict[str, Any]:
    operator = ReplayDeadLettersOperator(
        task_id="replay",
        integration="crm_contacts",
        state_conn_id=STATE_CONN,
        staging_root=str(tmp_path / "staging"),
    )
    return operator.execute(context("replay", run_id))


def test_replaying_after_the_fix_delivers_each_record_exactly_once(sandbox: Any, tmp_path: Path) -> None:
    records = [{"email": f"user{n:03d}@example.com", "first_name": f"User {n}"} for n in range(20)]
    first = upsert(records, "run_1")
    assert (first["created"], first["dead_lettered"]) == (17, 3)
    queue = DeadLetterQueue(state_engine(STATE_CONN))
    assert sorted(entry.record_key for entry in queue.find(statuses=["open"])) == BROKEN

    sandbox.configure(fail_404=[])  # the cause is fixed
    staged = replay(tmp_path, "replay_1")
    assert staged["replay"]["entries"] == 3
    replayed = upsert(staged, "replay_1")

    assert replayed["created"] == 3
    assert replayed["replay_resolved"] == 3
    assert {entry.status for entry in queue.find()} == {"resolved"}
    creates = sandbox.stats()["creates_by_key"]
    assert sorted(creates.values()) == [1] * 20  # every record created once, the replayed ones too

    again = replay(tmp_path, "replay_2")  # nothing is left to replay, and nothing is sent
    assert again["replay"]["entries"] == 0
    assert upsert(again, "replay_2")["requests"] == 0
    assert sum(sandbox.stats()["creates_by_key"].values()) == 20
