"""Database upserts: ours against ``PostgresHook.insert_rows(..., replace=True)``, in one run.

Loads ``--rows`` generated contacts into a fresh Postgres table with
:func:`reliable_api.idempotency.db_upsert.upsert_records` (through the engine of a ``postgres``
Airflow connection, as ``DbUpsertOperator`` does), runs it again with the same input and counts
the rows written by that re-run (``pg_stat_user_tables`` insert + update deltas), then loads
``--peer-rows`` with the common-sql provider's ``insert_rows(replace=True)``. Then the same
upsert into SQLite (rows written by the re-run counted by a trigger).

    python bench/db_upsert.py                          # 1,000,000 rows; peer on 100,000
    python bench/db_upsert.py --rows 200000 --peer-rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import upsert_records

SCHEMA = {"id": "bigint", "email": "text", "name": "text", "score": "numeric", "active": "boolean"}
COLUMNS = list(SCHEMA)
MODES = {None: "compare columns", "_row_hash": "_row_hash"}
PG = os.environ.get("RELIABLE_API_TEST_PG", "127.0.0.1:5432")


def contacts(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "id": i,
            "email": f"user{i}@example.com",
            "name": f"User {i}",
            "score": i % 997,
            "active": i % 3 == 0,
        }


def timed(label: str, rows: int, work: Any) -> Any:
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    print(f"{label:<58} {rows:>9,} rows {seconds:8.2f} s {rows / seconds:>11,.0f} rows/s")
    return result, rows / seconds


def pg_writes(engine: Engine, table: str) -> int:
    engine.dispose()  # a backend flushes its statistics when it exits
    time.sleep(0.5)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        sql = f"SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = '{table}'"
        return int(connection.exec_driver_sql(sql).scalar_one())


def ours_postgres(engine: Engine, rows: int, hash_column: str | None) -> float:
    table = f"ours_{hash_column or 'columns'}".replace("__", "_")

    def ours() -> Any:
        return upsert_records(
            engine, table, contacts(rows), key=["id"], create=SCHEMA, hash_column=hash_column
        )

    first, rate = timed(f"ours ({MODES[hash_column]}): first load", rows, ours)
    print(f"    {first.counts()}")
    before = pg_writes(engine, table)
    again, _ = timed(f"ours ({MODES[hash_column]}): unchanged re-run", rows, ours)
    print(f"    {again.counts()}; rows written by the re-run: {pg_writes(engine, table) - before}")
    return float(rate)


#: The merge ours runs after its COPY, written out for the floor below.
MERGE = (
    "INSERT INTO {table} SELECT * FROM staged ON CONFLICT (id) DO UPDATE SET email = excluded.email, "
    "name = excluded.name, score = excluded.score, active = excluded.active WHERE "
    "({table}.email, {table}.name, {table}.score, {table}.active) IS DISTINCT FROM "
    "(excluded.email, excluded.name, excluded.score, excluded.active)"
)


def floors(engine: Engine, rows: int) -> tuple[float, float]:
    """What PostgreSQL alone costs, from COPY text made before the clock starts.

    A bare COPY into a fresh keyed table is the fastest write there is; COPY into a temporary
    table plus the merge ours runs is the database's share of any correct upsert. Neither does
    any Python per record, so their ratios to the peer bound what an upsert can reach here.
    """
    text = "".join(
        f"{r['id']}\t{r['email']}\t{r['name']}\t{r['score']}\t{'t' if r['active'] else 'f'}\n"
        for r in contacts(rows)
    )
    columns = "(id bigint PRIMARY KEY, email text, name text, score numeric, active boolean)"
    with engine.begin() as connection:
        for table in ("floor_copy", "floor_merge"):
            connection.exec_driver_sql(f"CREATE TABLE {table} {columns}")
    raw = engine.raw_connection()
    cursor: Any = raw.driver_connection.cursor()  # type: ignore[union-attr]
    try:

        def copy() -> None:
            with cursor.copy("COPY floor_copy FROM STDIN") as copying:
                copying.write(text)
            raw.commit()

        def merge() -> None:
            cursor.execute(f"CREATE TEMPORARY TABLE staged {columns} ON COMMIT DROP")
            with cursor.copy("COPY staged FROM STDIN") as copying:
                copying.write(text)
            cursor.execute(MERGE.format(table="floor_merge"))
            raw.commit()

        _, copy_rate = timed("floor: bare COPY into an empty keyed table (no upsert)", rows, copy)
        _, merge_rate = timed("floor: COPY into a temp table + ours' merge (no Python)", rows, merge)
    finally:
        raw.close()
    return float(copy_rate), float(merge_rate)


def postgres(rows: int, peer_rows: int) -> None:
    import psycopg2
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    host, port = PG.split(":")
    name = f"reliable_api_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    conn = {"conn_type": "postgres", "host": host, "port": int(port), "login": "postgres", "schema": name}
    os.environ["AIRFLOW_CONN_BENCH_PG"] = json.dumps(conn)
    try:
        hook = PostgresHook(postgres_conn_id="bench_pg")
        engine = hook.get_sqlalchemy_engine()
        print(f"PostgreSQL (driver {engine.dialect.driver}), batches of 50,000")

        rates = {mode: ours_postgres(engine, rows, mode) for mode in MODES}
        ours_rate = rates[None]

        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE peer (id bigint PRIMARY KEY, email text, name text, score numeric, "
                "active boolean)"
            )
        tuples = [tuple(record.values()) for record in contacts(peer_rows)]

        def peer() -> None:
            hook.insert_rows("peer", tuples, COLUMNS, replace=True, replace_index="id")

        _, peer_rate = timed("peer: PostgresHook.insert_rows(replace=True)", peer_rows, peer)

        def peer_many() -> None:
            hook.insert_rows("peer", tuples, COLUMNS, replace=True, replace_index="id", executemany=True)

        _, many_rate = timed("peer: same, executemany=True", peer_rows, peer_many)
        copy_rate, merge_rate = floors(engine, rows)
        print(f"ours (compare columns) / insert_rows(replace=True): {ours_rate / peer_rate:.1f}x")
        print(f"ours (compare columns) / insert_rows(..., executemany=True): {ours_rate / many_rate:.1f}x")
        print(f"ceiling: bare COPY / insert_rows(replace=True): {copy_rate / peer_rate:.1f}x")
        print(
            f"ceiling of any upsert: COPY + merge / insert_rows(replace=True): {merge_rate / peer_rate:.1f}x"
        )
        engine.dispose()
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def sqlite(rows: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(f"sqlite:///{directory}/bench.db")
        print("SQLite")

        def ours() -> Any:
            return upsert_records(engine, "ours", contacts(rows), key=["id"], create=SCHEMA)

        first, _ = timed("ours: first load (all inserted)", rows, ours)
        print(f"    {first.counts()}")
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE writes (n integer)")
            connection.exec_driver_sql("INSERT INTO writes VALUES (0)")
            for event in ("INSERT", "UPDATE"):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER count_{event} AFTER {event} ON ours "
                    "BEGIN UPDATE writes SET n = n + 1; END"
                )
        again, _ = timed("ours: unchanged re-run", rows, ours)
        with engine.connect() as connection:
            written = connection.exec_driver_sql("SELECT n FROM writes").scalar_one()
        print(f"    {again.counts()}; rows written by the re-run: {written}")
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--peer-rows", type=int, default=100_000)
    args = parser.parse_args()
    postgres(args.rows, args.peer_rows)
    sqlite(args.rows)


if __name__ == "__main__":
    main()
