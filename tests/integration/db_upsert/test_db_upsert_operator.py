from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from reliable_api.exceptions import FailureBudgetExceeded
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.staging.files import StagedWriter, read_records

CONN_ID = "db_upsert_target"
CONTEXT: Any = {"ti": SimpleNamespace(dag_id="dag", run_id="run_1", task_id="load", map_index=-1)}


@pytest.fixture
def target(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = make_url(postgres_url)
    conn = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({**conn, "schema": url.database}))
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
        staged=staged,
        create={"id": "integer", "email": "text"},
        staging_root=str(tmp_path / "staging"),
        **kwargs,
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


def test_rejected_records_are_staged_with_reasons(target: str, tmp_path: Path) -> None:
    records = [{"id": 1000 + i, "email": "x"} for i in range(40)] + [{"email": "no key"}]
    summary = load(tmp_path, stage(tmp_path, records))
    assert summary["rejected"] == 1
    staged = list(read_records(summary["rejected_to"]))
    assert staged[0]["reason"] == "missing_key"
    assert staged[0]["record"] == {"email": "no key"}


def test_custom_handler_and_failure_budget(target: str, tmp_path: Path) -> None:
    seen: list[Any] = []

    def keep(rejected: Any, context: Any) -> str:
        seen.extend(rejected)
        return "kept"

    records = [{"id": 2000, "email": "ok"}, {"id": None}]
    with pytest.raises(FailureBudgetExceeded):
        load(tmp_path, stage(tmp_path, records), on_rejected=keep)
    assert [item.error.reason for item in seen] == ["missing_key"]
