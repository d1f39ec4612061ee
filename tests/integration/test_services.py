"""The service fixtures: each test session gets its own Postgres database and Redis namespace."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.services import require_service


@pytest.mark.postgres
def test_postgres_database_is_the_sessions_own_and_writable(postgres_url: str) -> None:
    # The database is created for this test session (a test worker) and shared by its tests, so
    # other tests of the worker may have created tables in it already: it is checked to be the
    # session's own (a name no other session has), not empty.
    name = sa.engine.make_url(postgres_url).database
    assert name is not None
    assert name.startswith("reliable_api_test_")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar() == name
            conn.execute(sa.text("create table probe (id int primary key)"))
            conn.execute(sa.text("insert into probe values (1)"))
            assert conn.execute(sa.text("select count(*) from probe")).scalar() == 1
            conn.execute(sa.text("drop table probe"))
    finally:
        engine.dispose()


@pytest.mark.redis
def test_redis_namespace_is_private(redis_url: str, redis_namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{redis_namespace}*")) == []
        client.set(f"{redis_namespace}probe", "1")
        assert client.get(f"{redis_namespace}probe") == b"1"
    finally:
        client.close()


def test_unreachable_service_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match=r"Nothing is unreachable at 127\.0\.0\.1:9"):
        require_service("Nothing", "127.0.0.1", 9)


def test_unreachable_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI=true it is required"):
        require_service("Nothing", "127.0.0.1", 9)
