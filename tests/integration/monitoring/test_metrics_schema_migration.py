"""A state DB of schema version 1 is brought to version 2 in place, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, MetaData, Table, create_engine, inspect, select

from reliable_api.monitoring.runs import load_runs
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import SCHEMA_VERSION, ensure_schema, meta, metadata, read_meta, run_metrics

ADDED = ("outcome", "error_class")
STARTED = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def version_1_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A state DB as release 1 left it: no ``outcome`` nor ``error_class``, one metrics row."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = str(request.getfixturevalue(f"{request.param}_url"))
    engine = create_engine(url)
    metadata.drop_all(engine)
    old = MetaData()
    for table in metadata.sorted_tables:
        columns = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in table.c]
        Table(table.name, old, *(c for c in columns if not (table is run_metrics and c.name in ADDED)))
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(meta.insert().values(name="schema_version", value="1"))
        old_metrics = old.tables["rapi_run_metrics"]
        conn.execute(
            old_metrics.insert().values(
                integration="crm", started_at=STARTED, ended_at=STARTED, counts={"records": 7}
            )
        )
    engine.dispose()
    yield url
    engine = create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()


def columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("rapi_run_metrics")}


def test_an_old_state_db_gets_the_new_columns_and_its_rows_count_as_successes(version_1_url: str) -> None:
    engine = make_engine(version_1_url)
    try:
        assert set(ADDED) <= columns(engine)
        assert read_meta(engine, "schema_version") == str(SCHEMA_VERSION) == "2"
        (row,) = load_runs(engine)
        assert (row.outcome, row.error_class, row.records) == ("success", None, 7)
        ensure_schema(engine)  # a second process, later: nothing left to do
        assert read_meta(engine, "schema_version") == "2"
    finally:
        engine.dispose()


def test_a_migration_finishes_what_a_concurrent_one_started(version_1_url: str) -> None:
    # Another process added the columns and was stopped before it set the version.
    engine = create_engine(version_1_url)
    quoted = engine.dialect.identifier_preparer.quote("rapi_run_metrics")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN outcome VARCHAR(16)")
    engine.dispose()
    engine = make_engine(version_1_url)
    try:
        assert set(ADDED) <= columns(engine)
        with engine.connect() as conn:
            assert conn.execute(select(run_metrics.c.outcome)).scalar_one() == "success"
        assert read_meta(engine, "schema_version") == "2"
    finally:
        engine.dispose()
