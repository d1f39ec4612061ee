"""Loads starting at once with ``create=`` on a table that does not exist yet: all of them load.

Two runs of one DAG (or two DAGs) writing one new table race to create it; the loser's CREATE
fails ("already exists", or on PostgreSQL a unique violation in its catalog) and must not fail
the load.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import upsert_records

THREADS = 6
ROUNDS = 8
SCHEMA = {"id": "integer", "name": "text"}


def test_loads_racing_to_create_one_table_all_load(engine: Engine) -> None:
    for _ in range(ROUNDS):
        table = f"race_{uuid.uuid4().hex[:10]}"
        barrier = threading.Barrier(THREADS)
        failures: list[Exception] = []
        counts: list[dict[str, int]] = []

        def load(
            number: int,
            table: str = table,
            barrier: threading.Barrier = barrier,
            failures: list[Exception] = failures,
            counts: list[dict[str, int]] = counts,
        ) -> None:
            barrier.wait()
            try:
                result = upsert_records(
                    engine, table, [{"id": number, "name": f"n{number}"}], key=["id"], create=SCHEMA
                )
                counts.append(result.counts())
            except Exception as error:  # every failure is the test's finding
                failures.append(error)

        threads = [threading.Thread(target=load, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        try:
            assert not failures, f"{len(failures)} of {THREADS} loads failed: {failures[0]!r}"
            assert sum(c["inserted"] for c in counts) == THREADS
            assert inspect(engine).has_table(table)
        finally:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
