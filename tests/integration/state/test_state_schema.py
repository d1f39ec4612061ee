"""The state DB: created on first use, versioned, reachable from an Airflow connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, update

from reliable_api.exceptions import ConfigurationError
from reliable_api.state.engine import make_engine, state_engine
from reliable_api.state.schema import SCHEMA_VERSION, ensure_schema, meta, read_meta


def test_first_use_creates_the_tables_and_the_version(state_db: Engine) -> None:
    tables = set(inspect(state_db).get_table_names())
    assert {"rapi_meta", "rapi_ledger", "rapi_dead_letters", "rapi_run_metrics"} <= tables
    assert read_meta(state_db, "schema_version") == str(SCHEMA_VERSION)
    salt = read_meta(state_db, "redaction_salt")
    ensure_schema(state_db)  # a second use keeps what the first wrote
    assert read_meta(state_db, "redaction_salt") == salt


def test_a_newer_schema_is_refused(state_db: Engine) -> None:
    with state_db.begin() as conn:
        conn.execute(update(meta).where(meta.c.name == "schema_version").values(value="99"))
    with pytest.raises(ConfigurationError, match="schema version 99"):
        ensure_schema(state_db)


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'deep' / 'state.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000


def test_without_a_connection_the_state_db_is_a_file_under_airflow_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    engine = state_engine("reliable_api_state_absent")
    assert engine.url.database == str(tmp_path / "reliable_api" / "state.db")


def test_a_connection_names_the_state_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'from_extra.db'}"
    conn = {"conn_type": "generic", "extra": {"sqlalchemy_url": url}}
    monkeypatch.setenv("AIRFLOW_CONN_STATE_FROM_EXTRA", json.dumps(conn))
    assert str(state_engine("state_from_extra").url) == url


def test_a_connection_of_another_type_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STATE_HTTP", json.dumps({"conn_type": "http", "host": "x"}))
    with pytest.raises(ConfigurationError, match="sqlalchemy_url"):
        state_engine("state_http")
