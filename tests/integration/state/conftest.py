"""A fresh state DB per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from reliable_api.state.engine import make_engine
from reliable_api.state.schema import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state DB on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def state_db(state_url: str) -> Iterator[Engine]:
    """An engine with fresh tables; Postgres tables are dropped after the test."""
    engine = make_engine(state_url)
    yield engine
    if engine.dialect.name == "postgresql":
        metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def integration() -> str:
    """An integration name unique to the test."""
    return f"it_{uuid.uuid4().hex[:8]}"
