"""The rest of bench/db_upsert.py: ours against its floors on SQLite and MariaDB, the 1% refused
values case of issue 13, and ``PostgresHook.insert_rows`` for reference."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from db_upsert_peers import (
    COLUMNS,
    NAMES,
    SCHEMA,
    contacts,
    copy_text,
    load_average,
    mysql_floor,
    ours,
    scenarios,
    sqlite_floor,
    stage,
    timed,
)

if TYPE_CHECKING:
    from db_upsert import Postgres

MYSQL = os.environ.get("RELIABLE_API_TEST_MYSQL", "127.0.0.1:3306")


def refused_values(db: Postgres, workdir: str, rows: int = 10_000, reps: int = 3) -> None:
    """Issue 13's case: 1% of the values refused by the column's type, against a clean load.

    Twice: with one refused value throughout (``"N/A"``, as real data repeats its placeholders),
    and with every refused value different (the worst case for checking each distinct value once).
    """
    from sqlalchemy import create_engine

    from reliable_api.idempotency.db_upsert import upsert_staged
    from reliable_api.staging.files import StagedWriter

    def write(directory: str, refused: Callable[[int], str] | None) -> dict[str, Any]:
        writer = StagedWriter(directory)
        writer.write(
            {**r, "signup": refused(r["id"])} if refused and r["id"] % 100 == 7 else r for r in contacts(rows)
        )
        return writer.close().to_xcom()

    inputs = {
        "clean": write(f"{workdir}/clean", None),
        "1% refused": write(f"{workdir}/refused", lambda _: "N/A"),
        "1% refused, each different": write(f"{workdir}/distinct", lambda n: f"unknown #{n}"),
    }
    engine = create_engine(f"postgresql+psycopg://{db.url.split('://', 1)[1].replace(':unused', '')}")
    speeds: dict[str, list[float]] = {name: [] for name in inputs}
    for number, name in enumerate(inputs):  # untimed: the first run in a process pays for imports and caches
        upsert_staged(engine, f"refused_warm_{number}", inputs[name], key=["id"], create=SCHEMA)
    for rep in range(reps):
        for number, name in list(enumerate(inputs))[:: 1 if rep % 2 == 0 else -1]:
            db.sql(f"DROP TABLE IF EXISTS refused_{rep}_{number}")
            start = time.perf_counter()
            result = upsert_staged(engine, f"refused_{rep}_{number}", inputs[name], key=["id"], create=SCHEMA)
            speeds[name].append(rows / (time.perf_counter() - start))
            if rep == 0:
                sample = result.rejected[0].error if result.rejected else None
                print(
                    f"  {name}: {result.counts()}; first rejection: "
                    f"{sample and (sample.record_key, sample.reason, str(sample))}"
                )
    engine.dispose()
    clean = statistics.median(speeds["clean"])
    for name in list(inputs)[1:]:
        bad = statistics.median(speeds[name])
        # Each run is a fraction of a second: the ratio of each pair run back to back shows the spread.
        pairs = sorted(b / c for b, c in zip(speeds[name], speeds["clean"], strict=True))
        print(
            f"  {rows:,} records, {name}: {bad:,.0f} rows/s against {clean:,.0f} clean "
            f"= {bad / clean:.2f} (median of {reps}); pair by pair: min {pairs[0]:.2f}, "
            f"median {statistics.median(pairs):.2f}, max {pairs[-1]:.2f}"
        )


def insert_rows_reference(db: Postgres, rows: int) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    db.sql(f"CREATE TABLE peer {COLUMNS}")
    tuples = [tuple(r.values()) for r in contacts(rows)]
    hook = PostgresHook(postgres_conn_id="bench_pg")
    seconds = timed(lambda: hook.insert_rows("peer", tuples, NAMES, replace=True, replace_index="id"))
    print(f"  reference: PostgresHook.insert_rows(replace=True), {rows:,} rows: {rows / seconds:,.0f} rows/s")


def other_engines(rows: int, reps: int, workdir: str) -> None:
    """Ours against its floor on SQLite and MariaDB (same scenarios, alternating order)."""
    import pymysql

    plan = scenarios(rows)
    staged = {name: stage(f"{workdir}/o{i}", **spec) for i, (name, spec) in enumerate(plan.items())}
    host, port = MYSQL.split(":")
    name = f"reliable_api_bench_{uuid.uuid4().hex[:8]}"

    def connect(database: str | None = name) -> Any:
        return pymysql.connect(host=host, port=int(port), user="root", database=database, local_infile=True)

    admin = connect(None)
    admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    sqlite_path = f"{workdir}/bench.db"
    engines = {
        "SQLite": (
            f"sqlite:///{sqlite_path}",
            lambda text, tuples: sqlite_floor(sqlite_path, "floor", tuples),
        ),
        "MariaDB": (
            f"mysql+pymysql://root@{host}:{port}/{name}",
            lambda text, tuples: mysql_floor(connect, "floor", text),
        ),
    }
    try:
        for engine_name, (url, floor) in engines.items():
            print(f"{engine_name}, {rows:,} rows, load average {load_average()}")
            figures: dict[tuple[str, str], list[float]] = {}
            for rep in range(reps):
                for runner in ("ours", "floor") if rep % 2 == 0 else ("floor", "ours"):
                    _recreate(engine_name, url, runner, connect, sqlite_path)
                    for scenario, spec in plan.items():
                        n = spec["rows"] + spec.get("new", 0)
                        if runner == "ours":
                            seconds = ours(url, "ours", staged[scenario], [])
                        else:
                            records = list(contacts(**spec))
                            text, tuples = copy_text(records), [tuple(r.values()) for r in records]
                            seconds = timed(lambda: floor(text, tuples))  # noqa: B023 - called at once
                        figures.setdefault((runner, scenario), []).append(n / seconds)
                        print(
                            f"  rep {rep + 1} {runner:<6} {scenario:<22} {n / seconds:>10,.0f} rows/s  "
                            f"load {load_average()}"
                        )
            for scenario in plan:
                mine, base = max(figures[("ours", scenario)]), max(figures[("floor", scenario)])
                print(
                    f"  {engine_name} {scenario}: ours {mine:,.0f} / floor {base:,.0f} rows/s "
                    f"= {mine / base:.2f}"
                )
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _recreate(engine_name: str, url: str, runner: str, connect: Any, sqlite_path: str) -> None:
    if engine_name == "SQLite":
        import sqlite3

        connection = sqlite3.connect(sqlite_path)
        connection.execute(f"DROP TABLE IF EXISTS {runner}")
        if runner == "floor":
            connection.execute(f"CREATE TABLE floor {COLUMNS}")
        connection.commit()
        connection.close()
        return
    connection = connect()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {runner}")
        if runner == "floor":
            cursor.execute(f"CREATE TABLE floor {COLUMNS}")
    connection.commit()
    connection.close()
