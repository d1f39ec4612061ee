"""A fresh state DB per test on SQLite and PostgreSQL, and the state connection pointing at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from reliable_api.state.engine import make_engine
from reliable_api.state.schema import metadata

#: The state DB connection the operators under test use.
STATE_CONN = "monitoring_state"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a state DB on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def state_db(state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Fresh state tables behind connection :data:`STATE_CONN`; dropped afterwards on a server."""
    conn = {"conn_type": "generic", "extra": {"sqlalchemy_url": state_url}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN.upper()}", json.dumps(conn))
    engine = make_engine(state_url)  # the process-wide engine of the URL sees these tables too
    yield engine
    if not state_url.startswith("sqlite"):
        metadata.drop_all(engine)
    engine.dispose()
