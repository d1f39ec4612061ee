from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from reliable_api.deadletter.queue import DeadLetterQueue
from reliable_api.deadletter.replay import stage_replay
from reliable_api.exceptions import FailureBudgetExceeded
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.staging.files import StagedWriter
from reliable_api.state.engine import state_engine
from reliable_api.state.schema import dead_letters, run_metrics

CONN_ID = "db_upsert_target"
STATE_CONN = "db_upsert_state"
CONTEXT: Any = {
    "ti": SimpleNamespace(dag_id="dag", run_id="run_1", task_id="load", map_index=-1, try_number=1)
}


@pytest.fixture
def target(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = make_url(postgres_url)
    conn = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({**conn, "schema": url.database}))
    state = {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{tmp_path / 'state.db'}"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN.upper()}", json.dumps(state))
    yield postgres_url
    engine = create_engine(postgres_url)
    with engine.begin() as connection:  # the session database is shared: leave it as found
        connection.exec_driver_sql("DROP TABLE IF EXISTS op_contacts")
    engine.dispose()


def stage(tmp_path: Path, records: list[Any]) -> dict[str, Any]:
    writer = StagedWriter(str(tmp_path / "extract"))
    writer.write(records)
    return writer.close().to_xcom()


def load(tmp_path: Path, staged: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    operator = DbUpsertOperator(
        task_id="load",
        conn_id=CONN_ID,
        table="op_contacts",
        key=["id"],
        records=staged,
        state_conn_id=STATE_CONN,
        **{"create": {"id": "integer", "email": "text"}, **kwargs},
    )
    return operator.execute(CONTEXT)


def test_loads_staged_records_and_rerun_changes_nothing(target: str, tmp_path: Path) -> None:
    staged = stage(tmp_path, [{"id": i, "email": f"u{i}@example.com"} for i in range(100)])
    first = load(tmp_path, staged, batch_size=30)
    second = load(tmp_path, staged)
    assert (first["inserted"], first["records"]) == (100, 100)
    assert (second["unchanged"], second["inserted"], second["updated"]) == (100, 0, 0)
    engine = create_engine(target)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM op_contacts").scalar_one() == 100
    engine.dispose()


def test_rejected_records_are_dead_lettered_with_reasons(target: str, tmp_path: Path) -> None:
    records = [{"id": 1000 + i, "email": "x"} for i in range(40)]
    records += [{"email": "no key", "token": "s3cret"}, {"id": [1041], "email": "list key"}]
    summary = load(tmp_path, stage(tmp_path, records), redact=["token"])
    assert (summary["rejected"], summary["inserted"], summary["records"]) == (2, 40, 42)
    with state_engine(STATE_CONN).connect() as conn:
        entries = {row.record_key: row for row in conn.execute(select(dead_letters))}
        (metrics,) = conn.execute(select(run_metrics)).all()
    assert all(key.startswith("no-key:") for key in entries)  # neither has a usable key
    no_key = next(row for row in entries.values() if row.payload["email"] == "no key")
    assert (no_key.error_class, no_key.status, no_key.run_id) == ("RecordRejected", "open", "run_1")
    assert no_key.payload["email"] == "no key"
    assert no_key.payload["token"].startswith("redacted:")
    assert "id" in no_key.message
    list_key = next(row for row in entries.values() if row.payload["email"] == "list key")
    assert "not a scalar" in list_key.message
    assert (metrics.integration, metrics.counts["rejected"]) == ("op_contacts", 2)


def test_rejected_again_updates_its_dead_letter(target: str, tmp_path: Path) -> None:
    staged = stage(tmp_path, [{"id": 3000 + i, "email": "x"} for i in range(40)] + [{"email": "?"}])
    load(tmp_path, staged)
    load(tmp_path, staged)
    with state_engine(STATE_CONN).connect() as conn:
        (entry,) = conn.execute(select(dead_letters)).all()
    assert entry.attempts == 2


def test_failure_budget_fails_the_task_after_dead_lettering(target: str, tmp_path: Path) -> None:
    records = [{"id": 2000, "email": "ok"}, {"id": None}]
    with pytest.raises(FailureBudgetExceeded):
        load(tmp_path, stage(tmp_path, records))
    with state_engine(STATE_CONN).connect() as conn:
        (entry,) = conn.execute(select(dead_letters)).all()
    assert entry.message.startswith("record has no value for natural key field 'id'")


def test_replayed_dead_letters_are_loaded_and_resolved(target: str, tmp_path: Path) -> None:
    load(tmp_path, stage(tmp_path, [{"id": 4000 + i, "email": "x"} for i in range(40)] + [{"email": "late"}]))
    queue = DeadLetterQueue(state_engine(STATE_CONN))
    (entry,) = queue.find()
    # The cause is fixed upstream: the record now has its key (as a person would edit and replay it).
    with state_engine(STATE_CONN).begin() as conn:
        conn.execute(dead_letters.update().values(payload={"id": 4040, "email": "late"}))
    replay = stage_replay(
        queue, integration="op_contacts", directory=str(tmp_path / "replay"), replay_id="r1"
    )

    summary = load(tmp_path, replay.to_xcom())

    assert (summary["inserted"], summary["replay_resolved"]) == (1, 1)
    assert queue.get(entry.id).status == "resolved"


def test_values_the_database_refuses_are_dead_lettered_and_the_rest_loads(
    target: str, tmp_path: Path
) -> None:
    records = [
        {"id": 5000 + i, "email": f"u{i}@example.com", "signup_date": "2024-02-29"} for i in range(200)
    ]
    for i in (7, 107):
        records[i]["signup_date"] = "N/A"
    schema = {"id": "integer", "email": "text", "signup_date": "date"}
    summary = load(tmp_path, stage(tmp_path, records), create=schema)  # 1% refused: within the budget
    assert (summary["inserted"], summary["rejected"], summary["records"]) == (198, 2, 200)
    with state_engine(STATE_CONN).connect() as conn:
        entries = {row.record_key: row for row in conn.execute(select(dead_letters))}
    assert set(entries) == {"5007", "5107"}
    entry = entries["5007"]
    assert (entry.error_class, entry.status, entry.payload["signup_date"]) == (
        "RecordRejected",
        "open",
        "N/A",
    )
    assert "signup_date" in entry.message
    assert "N/A" in entry.message
