"""``ValidateRecordsOperator`` on the sandbox's messy contacts: split, dead letters, budget, replay."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from reliable_api.deadletter.replay import REPLAY_KEY
from reliable_api.exceptions import ContractError, FailureBudgetExceeded
from reliable_api.operators.validate import ValidateRecordsOperator
from reliable_api.staging.files import StagedWriter, read_records
from reliable_api.state.engine import state_engine
from reliable_api.state.schema import dead_letters, run_metrics
from reliable_api.testing.sandbox.data import generate_contacts
from reliable_api.validation.expectations import BatchValidationFailed

STATE_CONN = "validate_state"
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "sqlite", "host": str(tmp_path / "state.db")}
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN.upper()}", json.dumps(conn))


def context(run_id: str = "run_1") -> Any:
    ti = SimpleNamespace(dag_id="crm", run_id=run_id, task_id="validate", map_index=-1, try_number=1)
    return {"ti": ti}


def stage(
    tmp_path: Path, records: list[dict[str, Any]], name: str = "extract", **extra: Any
) -> dict[str, Any]:
    writer = StagedWriter(str(tmp_path / name))
    writer.write(records)
    return {**writer.close().to_xcom(), **extra}


def validate(
    tmp_path: Path, staged: Any, run_id: str = "run_1", contract: str = "contacts", **kwargs: Any
) -> dict[str, Any]:
    operator = ValidateRecordsOperator(
        task_id="validate",
        records=staged,
        contract=contract,
        integration="crm_contacts",
        state_conn_id=STATE_CONN,
        staging_root=str(tmp_path / "staging"),
        **kwargs,
    )
    return operator.execute(context(run_id))


def entries() -> dict[str, Any]:
    with state_engine(STATE_CONN).connect() as conn:
        return {row.record_key: row for row in conn.execute(select(dead_letters))}


def test_good_records_go_on_and_every_bad_one_is_dead_lettered_with_its_reasons(tmp_path: Path) -> None:
    records = list(generate_contacts(2000, seed=7, now=NOW))
    result = validate(tmp_path, stage(tmp_path, records), max_failure_ratio=0.9)

    good = list(read_records(result))
    assert result["records"] == 2000
    assert result["good"] + result["rejected"] == 2000
    assert len(good) == result["good"] > 1000
    assert all(record["phone"] is None or record["phone"].startswith("+") for record in good)
    assert all(len(record["signup_date"]) == 10 for record in good)  # ISO 8601 dates
    dead = entries()
    assert len(dead) == result["rejected"]
    assert {key for key in dead} & {record["id"] for record in good} == set()
    assert all(entry.error_class == "RecordRejected" and entry.message for entry in dead.values())
    reasons = result["reasons"]
    assert sum(reasons.values()) >= result["rejected"]
    assert any(reason.startswith("expectation:ExpectColumnValuesToBeUnique") for reason in reasons)
    assert any(not reason.startswith("expectation:") for reason in reasons)  # a normalizer's reason

    with state_engine(STATE_CONN).connect() as conn:
        (metrics,) = conn.execute(select(run_metrics.c.counts)).all()
    summary = metrics.counts["validation"]
    assert summary["total"] == result["good"] + sum(
        1 for entry in dead.values() if entry.message.startswith("failed expectations")
    )
    assert {item["type"] for item in summary["expectations"]} >= {"ExpectColumnValuesToBeUnique"}


def test_the_failure_budget_fails_the_task_after_dead_lettering(tmp_path: Path) -> None:
    records = list(generate_contacts(300, seed=3, now=NOW))
    with pytest.raises(FailureBudgetExceeded) as raised:
        validate(tmp_path, stage(tmp_path, records))
    assert raised.value.failed == len(entries()) > 0.05 * 300


def test_a_rerun_updates_the_same_dead_letters(tmp_path: Path) -> None:
    staged = stage(tmp_path, list(generate_contacts(200, seed=5, now=NOW)))
    first = validate(tmp_path, staged, max_failure_ratio=1.0)
    validate(tmp_path, staged, run_id="run_2", max_failure_ratio=1.0)
    dead = entries()
    assert len(dead) == first["rejected"]
    assert {entry.attempts for entry in dead.values()} == {2}


def test_an_empty_batch_fails_the_contracts_row_count_expectation(tmp_path: Path) -> None:
    with pytest.raises(BatchValidationFailed, match="ExpectTableRowCountToBeBetween"):
        validate(tmp_path, stage(tmp_path, []))


def test_a_replay_batch_keeps_its_replay_id_for_the_upsert(tmp_path: Path) -> None:
    records = list(generate_contacts(1, seed=1, now=NOW))
    replay = {"integration": "crm_contacts", "id": "replay:crm/r1", "entries": 1}
    result = validate(tmp_path, stage(tmp_path, records, **{REPLAY_KEY: replay}), max_failure_ratio=1.0)
    assert result[REPLAY_KEY] == replay


def test_a_missing_contract_file_is_named(tmp_path: Path) -> None:
    staged = stage(tmp_path, list(generate_contacts(5, seed=1, now=NOW)))
    with pytest.raises(ContractError, match=r"nope\.yaml"):
        validate(tmp_path, staged, contract=str(tmp_path / "nope.yaml"))
    assert entries() == {}
