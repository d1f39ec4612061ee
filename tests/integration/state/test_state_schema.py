"""The state DB: created on first use, versioned, reachable from an Airflow connection."""

from __future__ import annotations

import json
import logging
import multiprocessing
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from reliable_api.exceptions import ConfigurationError
from reliable_api.state.engine import make_engine, state_engine
from reliable_api.state.schema import SCHEMA_VERSION, ensure_schema, meta, metadata, read_meta


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


def _open(url: str, results: multiprocessing.Queue[str]) -> None:
    results.put(read_meta(make_engine(url), "redaction_salt"))


def test_processes_creating_the_state_db_at_once_agree_on_one_salt(
    empty_state_url: str, run_processes: Callable[..., list[Any]]
) -> None:
    salts = run_processes(_open, *[(empty_state_url,)] * 4)
    assert len(set(salts)) == 1
    assert read_meta(make_engine(empty_state_url), "schema_version") == str(SCHEMA_VERSION)


@pytest.fixture
def mysql_state(mysql_url: str) -> Iterator[dict[str, Any]]:
    """A ``mysql`` connection's fields for the session's MySQL database, whose tables go after."""
    url = make_url(mysql_url)
    yield {
        "conn_type": "mysql",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "schema": url.database,
    }
    engine = create_engine(mysql_url)
    metadata.drop_all(engine)
    engine.dispose()


@pytest.mark.mysql
def test_a_mysql_connection_holds_the_state_db(
    mysql_state: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STATE_MYSQL", json.dumps(mysql_state))
    engine = state_engine("state_mysql")
    assert engine.url.drivername == "mysql+pymysql"
    assert read_meta(engine, "schema_version") == str(SCHEMA_VERSION)


@pytest.mark.mysql
@pytest.mark.parametrize("scheme", ["mysql", "mariadb"])
def test_a_mysql_url_without_a_driver_uses_pymysql(
    mysql_url: str, mysql_state: dict[str, Any], scheme: str
) -> None:
    # mysql:// is what the MySQL provider's connections give; SQLAlchemy alone would want MySQLdb.
    engine = make_engine(mysql_url.replace("mysql+pymysql://", f"{scheme}://", 1))
    assert engine.url.drivername == f"{scheme}+pymysql"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT @@tx_isolation").scalar() == "READ-COMMITTED"


@pytest.mark.mysql
def test_a_refused_mysql_password_is_in_no_error_and_no_log(
    mysql_state: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret Pa55/word"
    refused = {**mysql_state, "login": "rapi_no_such_user", "password": secret}
    monkeypatch.setenv("AIRFLOW_CONN_STATE_MYSQL_REFUSED", json.dumps(refused))
    with caplog.at_level(logging.DEBUG), pytest.raises(OperationalError) as raised:
        state_engine("state_mysql_refused")
    assert secret not in "".join(traceback.format_exception(raised.value))
    assert secret not in caplog.text
