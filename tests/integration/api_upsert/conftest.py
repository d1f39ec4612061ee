"""Sandbox connections and a state DB for the API upsert tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliable_api.state.engine import make_engine
from reliable_api.state.schema import metadata


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    """A fresh SQLite state DB."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def postgres_state_url(postgres_url: str) -> str:
    """The session's Postgres database with fresh state tables."""
    engine = make_engine(postgres_url)
    metadata.drop_all(engine)
    engine.dispose()
    return postgres_url
