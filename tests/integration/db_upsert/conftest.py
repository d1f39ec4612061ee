"""An engine of each supported database, and a fresh table name, for the database upsert tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """SQLite in a file, the session's PostgreSQL database, the session's MySQL/MariaDB database."""
    if request.param == "sqlite":
        made = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    elif request.param == "postgresql":
        made = create_engine(request.getfixturevalue("postgres_url"))
    else:
        made = create_engine(request.getfixturevalue("mysql_url"))
    yield made
    made.dispose()


@pytest.fixture
def table(engine: Engine) -> Iterator[str]:
    """A table name no other test uses; the table (and a ``writes`` counter) dropped after."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        connection.exec_driver_sql("DROP TABLE IF EXISTS writes")
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS count_write() CASCADE")
