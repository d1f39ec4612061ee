"""The peers and floors of bench/db_upsert.py: dlt's merge (two ways) and the no-Python floors.

Each runner loads one scenario's records into its own table and returns nothing; the bench
times it and counts the rows it wrote. Inputs are prepared before the clock starts, in the form
each peer takes best: dlt's fastest path an Arrow table, its default path Python dicts, the
floors ready COPY text / LOAD DATA text / bound tuples.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
# dlt would look every setting up in Airflow's Variables too (Airflow is installed here).
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")

#: The bench's table, as every runner declares it.
COLUMNS = "(id bigint PRIMARY KEY, email text, name text, score numeric, active boolean, signup date)"
NAMES = ["id", "email", "name", "score", "active", "signup"]
#: The same table as ours declares it (``create=``).
SCHEMA = {
    "id": "bigint",
    "email": "text",
    "name": "text",
    "score": "numeric",
    "active": "boolean",
    "signup": "date",
}
VALUES = NAMES[1:]


def contacts(
    rows: int, *, changed: int = 0, new: int = 0, shuffled: bool = False
) -> Iterator[dict[str, Any]]:
    """``rows`` generated contacts (ids 0..rows-1), the first ``changed`` renamed, ``new`` more.

    :param shuffled: in a random order of ids, the same in every call with the same ``rows`` and
        ``new`` (else in id order).
    """
    ids = list(range(rows + new))
    if shuffled:
        random.Random(rows + new).shuffle(ids)
    for i in ids:
        yield {
            "id": i,
            "email": f"user{i}@example.com",
            "name": f"User {i}{' v2' if i < changed else ''}",
            "score": i % 997,
            "active": i % 3 == 0,
            "signup": f"2024-01-{i % 28 + 1:02d}",
        }


def copy_text(records: list[dict[str, Any]], separator: str = "\t") -> bytes:
    """``records`` as ready COPY / LOAD DATA text (made before a floor's clock starts)."""
    return "".join(
        separator.join(
            [str(r["id"]), r["email"], r["name"], str(r["score"]), "t" if r["active"] else "f", r["signup"]]
        )
        + "\n"
        for r in records
    ).encode()


def merge_sql(table: str, stage: str) -> str:
    """The merge ours runs on PostgreSQL (anti-join of unchanged rows, then ON CONFLICT)."""

    def row(prefix: str) -> str:
        return f"({', '.join(prefix + v for v in VALUES)})"

    same, changed = (
        f"{row('o.')} IS NOT DISTINCT FROM {row('s.')}",
        f"{row('t.')} IS DISTINCT FROM {row('EXCLUDED.')}",
    )
    return (
        f"INSERT INTO {table} AS t SELECT s.* FROM {stage} s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} o WHERE o.id = s.id AND {same}) ON CONFLICT (id) DO UPDATE SET "
        f"{', '.join(f'{v} = EXCLUDED.{v}' for v in VALUES)} WHERE {changed}"
    )


def pg_floor(dsn: str, table: str, text: bytes) -> None:
    """COPY of ready text into a temporary table + ours' merge: PostgreSQL's own share."""
    import psycopg

    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE staged {COLUMNS.replace(' PRIMARY KEY', '')} ON COMMIT DROP")
        with cursor.copy("COPY staged FROM STDIN") as copying:
            copying.write(text)
        cursor.execute(merge_sql(table, "staged"))


def pg_bare_copy(dsn: str, table: str, text: bytes) -> None:
    """A bare COPY into the empty keyed table: the fastest write there is (first load only)."""
    import psycopg

    with (
        psycopg.connect(dsn) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} FROM STDIN") as copying,
    ):
        copying.write(text)


class Dlt:
    """dlt's ``merge`` into PostgreSQL: ``fast`` = Arrow + parquet over ADBC with strategy
    ``upsert`` (its fastest documented path), else its default (dicts, insert_values, delete-insert).
    """

    def __init__(self, dsn_url: str, dataset: str, *, fast: bool) -> None:
        import dlt

        self.fast = fast
        self.directory = tempfile.mkdtemp(prefix="dlt_bench_")
        self.pipeline = dlt.pipeline(
            pipeline_name=dataset,
            destination=dlt.destinations.postgres(dsn_url),
            dataset_name=dataset,
            pipelines_dir=self.directory,
        )
        self.table = f"{dataset}.contacts"

    def prepare(self, records: list[dict[str, Any]]) -> Any:
        """The input in the form this path takes: an Arrow table, or the dicts."""
        if not self.fast:
            return records
        import pyarrow as pa

        return pa.Table.from_pylist(records)

    def run(self, data: Any) -> None:
        """One ``pipeline.run`` of the merge."""
        import dlt

        if self.fast:
            disposition: Any = {"disposition": "merge", "strategy": "upsert"}
            resource = dlt.resource(data, name="contacts", primary_key="id", write_disposition=disposition)
            self.pipeline.run(resource, loader_file_format="parquet")
        else:
            resource = dlt.resource(data, name="contacts", primary_key="id", write_disposition="merge")
            self.pipeline.run(resource)


def mysql_floor(connect: Any, table: str, text: bytes) -> None:
    """LOAD DATA LOCAL of ready text into a temporary table + INSERT ... ON DUPLICATE KEY UPDATE."""
    with tempfile.NamedTemporaryFile(suffix=".tsv") as file:
        file.write(text)
        file.flush()
        connection = connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE TEMPORARY TABLE staged AS SELECT * FROM {table} WHERE 1 = 0")
                cursor.execute(
                    "LOAD DATA LOCAL INFILE %s INTO TABLE staged FIELDS TERMINATED BY '\\t' "
                    "(id, email, name, score, @active, signup) SET active = (@active = 't')",
                    (file.name,),
                )
                cursor.execute(
                    f"INSERT INTO {table} SELECT * FROM staged ON DUPLICATE KEY UPDATE "
                    + ", ".join(f"{v} = VALUES({v})" for v in VALUES)
                )
            connection.commit()
        finally:
            connection.close()


def sqlite_floor(path: str, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Ready tuples bound into a temporary table + the same merge shape as ours (no JSON)."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        connection.execute(f"CREATE TEMP TABLE staged AS SELECT * FROM {table} WHERE 0")
        connection.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?)", rows)
        same = " AND ".join(f"o.{v} IS staged.{v}" for v in VALUES)
        connection.execute(
            f"DELETE FROM staged WHERE EXISTS (SELECT 1 FROM {table} o WHERE o.id = staged.id AND {same})"
        )
        connection.execute(
            f"INSERT INTO {table} SELECT * FROM staged WHERE true ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{v} = excluded.{v}" for v in VALUES)
        )
        connection.commit()
    finally:
        connection.close()


def scenarios(rows: int, *, shuffled: bool = False) -> dict[str, dict[str, int]]:
    """Each scenario's :func:`contacts` arguments (``shuffled``: the records in a random order)."""
    return {
        "first load": {"rows": rows, "shuffled": shuffled},
        "unchanged re-run": {"rows": rows, "shuffled": shuffled},
        "10% changed + 5% new": {
            "rows": rows,
            "changed": rows // 10,
            "new": rows // 20,
            "shuffled": shuffled,
        },
    }


def stage(
    directory: str, rows: int, changed: int = 0, new: int = 0, shuffled: bool = False
) -> dict[str, Any]:
    from reliable_api.staging.files import StagedWriter

    writer = StagedWriter(directory)
    writer.write(contacts(rows, changed=changed, new=new, shuffled=shuffled))
    return writer.close().to_xcom()


def _ours_child(engine_spec: str, table: str, staged: dict[str, Any], results: Any) -> None:
    # Imported before the clock, like the peers' libraries (dlt's run in a warm process). The
    # clock once took pyarrow.compute's import (63-75 ms: it builds 286 wrappers) into the first batch.
    import pyarrow.compute
    import pyarrow.csv
    import pyarrow.json  # noqa: F401

    # And ours' own modules that the upsert imports when it starts: this machine's environment
    # sets PYTHONDONTWRITEBYTECODE, so each fresh process compiled them inside the clock (12-15
    # ms), where an installed wheel has them compiled (and dlt's are imported in its warm process).
    import reliable_api.idempotency.db_upsert_pg_catalog
    import reliable_api.idempotency.db_upsert_postgres
    import reliable_api.staging.files  # noqa: F401
    from reliable_api.idempotency.db_upsert import upsert_staged

    if engine_spec.startswith("airflow:"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        engine = PostgresHook(postgres_conn_id=engine_spec.split(":", 1)[1]).get_sqlalchemy_engine()
    else:
        from sqlalchemy import create_engine

        engine = create_engine(engine_spec)
    start = time.perf_counter()
    result = upsert_staged(engine, table, staged, key=["id"], create=SCHEMA)
    seconds = time.perf_counter() - start
    engine.dispose()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent (the bench).
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    results.put((seconds, result.counts(), peak / 1024))


def ours(engine_spec: str, table: str, staged: dict[str, Any], peaks: list[float]) -> float:
    """Run ours in a fresh process; return its seconds (peak RSS appended to ``peaks``)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_ours_child, args=(engine_spec, table, staged, results))
    process.start()
    seconds, counts, peak = results.get()
    process.join()
    peaks.append(peak)
    print(f"      ours counts {counts}, peak RSS {peak:,.0f} MB")
    return float(seconds)


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())
