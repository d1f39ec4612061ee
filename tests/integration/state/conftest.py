"""A fresh state DB per test, on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from reliable_api.state.engine import make_engine
from reliable_api.state.schema import metadata


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state DB on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def empty_state_url(state_url: str) -> Iterator[str]:
    """``state_url``; on a server its tables are dropped after the test (SQLite's file goes anyway)."""
    yield state_url
    if not state_url.startswith("sqlite"):
        engine = create_engine(state_url)
        metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def state_db(empty_state_url: str) -> Iterator[Engine]:
    """An engine with fresh tables."""
    engine = make_engine(empty_state_url)
    yield engine
    engine.dispose()


@pytest.fixture
def integration() -> str:
    """An integration name unique to the test."""
    return f"it_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def run_processes() -> Callable[..., list[Any]]:
    """``run(target, *arg_tuples)``: ``target(*args, results)`` in a forked process per tuple, all at once.

    :returns: what each process put on ``results``.
    """

    def run(target: Callable[..., None], *arg_tuples: tuple[Any, ...]) -> list[Any]:
        context = multiprocessing.get_context("fork")
        results: multiprocessing.Queue[Any] = context.Queue()
        workers = [context.Process(target=target, args=(*args, results)) for args in arg_tuples]
        for worker in workers:
            worker.start()
        collected = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        return collected

    return run
