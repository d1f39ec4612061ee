"""PostgreSQL's merge: ``MERGE`` on 15+, settled by ``INSERT ... ON CONFLICT`` when it cannot be.

``MERGE`` inserts without ``ON CONFLICT``: a key another writer inserts after its snapshot is a
unique violation, and the batch is merged again by the upsert statement. It is counted by the
transaction's table counters, so without them (``track_counts`` off) the upsert statement merges.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import UpsertResult, upsert_records
from reliable_api.idempotency.db_upsert_postgres import PostgresLoader

SCHEMA = {"id": "integer", "name": "text"}


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[Engine, str]]:
    engine = create_engine(postgres_url)
    table = f"t_{uuid.uuid4().hex[:10]}"
    upsert_records(engine, table, [{"id": i, "name": f"n{i}"} for i in range(10)], key=["id"], create=SCHEMA)
    yield engine, table
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    engine.dispose()


def _names(engine: Engine, table: str) -> dict[int, str]:
    with engine.connect() as connection:
        return {int(i): n for i, n in connection.exec_driver_sql(f"SELECT id, name FROM {table}").all()}


def _waiting_merge(engine: Engine, table: str) -> bool:
    """Whether a ``MERGE`` into ``table`` waits for a lock (another writer's uncommitted key)."""
    with engine.connect() as connection:
        waiting = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            f"AND query LIKE 'MERGE INTO %%{table}%%'"
        ).scalar()
    return bool(waiting)


def test_a_key_another_writer_inserts_meanwhile_is_updated_not_a_failure(
    pg: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, table = pg
    # Settled on the fast path: not sent whole to the careful path as if a value were refused.
    careful: list[bytes] = []
    check = PostgresLoader._careful

    def spied(self: PostgresLoader, cursor: Any, data: bytes, **options: Any) -> Any:
        careful.append(data)
        return check(self, cursor, data, **options)

    monkeypatch.setattr(PostgresLoader, "_careful", spied)
    other = engine.raw_connection()
    cursor = other.cursor()
    cursor.execute(f"INSERT INTO {table} (id, name) VALUES (100, 'theirs')")  # not committed yet
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            records = [{"id": 5, "name": "changed"}, {"id": 100, "name": "ours"}]
            outcome["result"] = upsert_records(engine, table, records, key=["id"])
        except BaseException as error:
            outcome["error"] = error

    loading = threading.Thread(target=load)
    loading.start()
    try:
        deadline = time.monotonic() + 30
        while not _waiting_merge(engine, table):
            assert time.monotonic() < deadline, "the MERGE never waited for the other writer's key"
            assert loading.is_alive(), f"the load ended before reaching the key: {outcome}"
            time.sleep(0.05)
        other.commit()  # the MERGE's insert of key 100 now violates the key
    finally:
        loading.join(timeout=60)
        other.close()
    assert "error" not in outcome, outcome
    result: UpsertResult = outcome["result"]
    assert result.counts() == {"inserted": 0, "updated": 2, "unchanged": 0, "duplicates": 0, "rejected": 0}
    names = _names(engine, table)
    assert (names[5], names[100], len(names)) == ("changed", "ours", 11)
    assert careful == []


def test_counts_stay_exact_without_table_counters(postgres_url: str, pg: tuple[Engine, str]) -> None:
    _, table = pg
    engine = create_engine(postgres_url, connect_args={"options": "-c track_counts=off"})
    try:
        records = [{"id": i, "name": "renamed" if i < 3 else f"n{i}"} for i in range(12)]
        result = upsert_records(engine, table, records, key=["id"])
    finally:
        engine.dispose()
    assert result.counts() == {"inserted": 2, "updated": 3, "unchanged": 7, "duplicates": 0, "rejected": 0}
