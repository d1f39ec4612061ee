"""A fresh state DB per test on SQLite and PostgreSQL, behind the default state connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a state DB on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def state_db(state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Fresh state tables behind the default state connection; dropped afterwards on a server."""
    conn = {"conn_type": "generic", "extra": {"sqlalchemy_url": state_url}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{STATE_CONN_ID.upper()}", json.dumps(conn))
    engine = make_engine(state_url)  # the process-wide engine of the URL sees these tables too
    yield engine
    if not state_url.startswith("sqlite"):
        metadata.drop_all(engine)
    engine.dispose()
