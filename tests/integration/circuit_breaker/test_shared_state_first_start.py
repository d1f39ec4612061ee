"""Workers starting at once on a fresh database all get the PostgreSQL shared state.

Concurrent ``CREATE TABLE IF NOT EXISTS`` can fail on PostgreSQL's catalog (a unique violation on
``pg_type``): a fresh-clone CI run saw one of six processes refused with "shared state postgres
... is unreachable" that way.
"""

from __future__ import annotations

import threading

import pytest

from reliable_api.http.shared_state import TABLE, PostgresState

THREADS = 8
ROUNDS = 15


def test_workers_starting_at_once_on_a_fresh_database_all_get_the_state(postgres_url: str) -> None:
    import psycopg2

    dsn = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    failures: list[Exception] = []

    def start(barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            PostgresState(postgres_url)
        except Exception as error:  # every failure is the test's finding
            failures.append(error)

    for _ in range(ROUNDS):
        admin = psycopg2.connect(dsn)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        admin.close()
        barrier = threading.Barrier(THREADS)
        threads = [threading.Thread(target=start, args=(barrier,)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        if failures:
            pytest.fail(f"{len(failures)} of {THREADS} workers refused: {failures[0]}")
