"""A backend that cannot be reached, or fails mid-run, raises the taxonomy's errors naming it."""

from __future__ import annotations

import math

import pytest

from reliable_api.exceptions import ConfigurationError, TransientError
from reliable_api.throttle.factory import make_backend
from reliable_api.throttle.postgres import PostgresBackend, libpq_dsn
from reliable_api.throttle.redis import RedisBackend
from tests.unit.throttle.fakes import paused_for, single

# Port 1 on loopback: nothing listens there, so connecting is refused at once.
UNREACHABLE = [
    ("redis", "redis://:hunter2@127.0.0.1:1/0", "redis://***@127.0.0.1:1/0"),
    (
        "postgres",
        "postgresql+psycopg2://postgres:hunter2@127.0.0.1:1/state",
        "postgresql+psycopg2://***@127.0.0.1:1/state",
    ),
]


@pytest.mark.parametrize(("name", "url", "redacted"), UNREACHABLE)
def test_an_unreachable_backend_is_a_configuration_error_naming_it(
    name: str, url: str, redacted: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_backend(name, url=url)
    assert f"limiter backend {name} at {redacted} is unreachable" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_an_invalid_redis_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="limiter backend redis at http://host is unreachable"):
        make_backend("redis", url="http://host")


@pytest.mark.postgres
def test_postgres_lost_mid_run_is_transient_then_reconnects(postgres_url: str) -> None:
    import psycopg2

    backend = PostgresBackend(postgres_url)
    backend.reserve("k", **single(1.0, 1), max_wait=math.inf)
    admin = psycopg2.connect(libpq_dsn(postgres_url))
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (backend._connection().get_backend_pid(),))
    finally:
        admin.close()
    with pytest.raises(TransientError, match="limiter backend postgres at postgresql"):
        paused_for(backend, "k")
    assert paused_for(backend, "k") == 0.0
    backend.close()


@pytest.mark.redis
def test_a_redis_error_mid_run_is_transient_naming_the_backend(redis_url: str, redis_namespace: str) -> None:
    import redis

    backend = RedisBackend(redis_url, prefix=redis_namespace)
    client = redis.Redis.from_url(redis_url)
    client.set(f"{redis_namespace}k", "not a hash")
    client.close()
    with pytest.raises(TransientError, match=r"limiter backend redis at redis://127\.0\.0\.1:6379/0 failed"):
        backend.reserve("k", **single(1.0, 1), max_wait=0)
    backend.close()
