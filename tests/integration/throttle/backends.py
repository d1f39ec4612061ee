"""The limiter backends the integration tests run against; import the fixtures by name."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reliable_api.throttle.base import LimiterBackend
from reliable_api.throttle.memory import MemoryBackend
from reliable_api.throttle.postgres import PostgresBackend
from reliable_api.throttle.redis import RedisBackend
from reliable_api.throttle.sqlite import SqliteBackend

#: Builds a backend; called again in each worker process, so every process has its own connection.
BackendFactory = Callable[[], LimiterBackend]

SHARED_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.fixture
def key() -> str:
    return f"conn:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make(request: pytest.FixtureRequest, tmp_path: Path) -> BackendFactory:
    """A factory for the backend named by the test's ``backend`` parameter."""
    name = request.param
    if name == "memory":
        backend = MemoryBackend()
        return lambda: backend
    if name == "sqlite":
        return lambda: SqliteBackend(tmp_path / "limiter.sqlite")
    if name == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresBackend(url)
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_namespace")
    return lambda: RedisBackend(url, prefix=prefix)


@pytest.fixture
def backend(make: BackendFactory) -> Iterator[LimiterBackend]:
    built = make()
    yield built
    built.close()
