"""SQLite under concurrent writers: each batch waits for the write lock instead of failing."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import create_engine

from reliable_api.idempotency.db_upsert import UpsertResult, upsert_records


def test_concurrent_upserts_of_the_same_keys_wait_for_each_other(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}", connect_args={"timeout": 30})
    upsert_records(engine, "contacts", [], key=["id"], create={"id": "integer", "name": "text"})
    errors: list[BaseException] = []
    results: list[UpsertResult] = []

    def load(suffix: str) -> None:
        records = [{"id": i, "name": f"n{i}{suffix}"} for i in range(3000)]
        try:
            results.append(upsert_records(engine, "contacts", records, key=["id"], batch_size=100))
        except BaseException as error:  # a deferred transaction's lock upgrade: "database is locked"
            errors.append(error)

    threads = [threading.Thread(target=load, args=(suffix,)) for suffix in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*), count(DISTINCT id) FROM contacts").one()
    engine.dispose()
    assert errors == []
    assert tuple(rows) == (3000, 3000)
    # Every batch ran alone: each key was inserted by one run and updated by the two others.
    assert (sum(r.inserted for r in results), sum(r.updated for r in results)) == (3000, 6000)
