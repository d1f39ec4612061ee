"""Database upserts: ours beside dlt's merge (default and fastest path) and the floors, in one run.

PostgreSQL: three scenarios in a row per runner, on a fresh table, ``--reps`` repetitions in
alternating order: a first load of ``--rows`` generated contacts, an unchanged re-run, and a
re-run with 10% of the rows changed and 5% new. Runners: **ours** (``upsert_staged`` of a staged
gzip JSON Lines batch, as ``DbUpsertOperator`` runs it, through a ``postgres`` Airflow
connection's engine, in a fresh process whose peak RSS is reported), **dlt fast** (Arrow table +
parquet over ADBC, ``strategy: upsert``), **dlt default** (dicts, insert_values, delete-insert;
skipped above ``--dlt-default-max-rows``), **floor** (COPY of ready text into a temporary table +
ours' merge: no Python per record). Rows written are counted from ``pg_stat_user_tables``
(inserts + updates + deletes); the final tables are checked equal by checksum. Then the 1%
refused-values case (issue 13), ``insert_rows`` for reference, and ours against its floors on
SQLite and MariaDB. Inputs are prepared before each clock starts, and before each PostgreSQL
scenario the database is settled for every runner alike (`Postgres.settle`: a CHECKPOINT, then
no autovacuum worker left in the bench database; `--no-settle` skips it).

    python bench/db_upsert.py --rows 200000 --other-rows 0
    python bench/db_upsert.py --rows 1000000 --reps 1 --other-rows 0
    python bench/db_upsert.py --rows 1000000 --reps 1 --other-rows 0 --shuffled
    python bench/db_upsert.py --skip-postgres --other-rows 200000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from db_upsert_engines import insert_rows_reference, other_engines, refused_values
from db_upsert_peers import (
    COLUMNS,
    Dlt,
    contacts,
    copy_text,
    load_average,
    ours,
    pg_bare_copy,
    pg_floor,
    scenarios,
    stage,
    timed,
)

PG = os.environ.get("RELIABLE_API_TEST_PG", "127.0.0.1:5432")
CHECKSUM = (
    "SELECT count(*), md5(string_agg(concat_ws('|', id, email, name, score::float8, active, signup::text), "
    "',' "
    "ORDER BY id)) FROM {table}"
)


class Postgres:
    def __init__(self) -> None:
        import psycopg

        host, port = PG.split(":")
        self.name = f"reliable_api_bench_{uuid.uuid4().hex[:8]}"
        self.admin = psycopg.connect(
            f"host={host} port={port} user=postgres dbname=postgres", autocommit=True
        )
        self.admin.execute(f'CREATE DATABASE "{self.name}"')
        self.dsn = f"host={host} port={port} user=postgres dbname={self.name}"
        self.url = (
            f"postgresql://postgres:unused@{host}:{port}/{self.name}"  # trust auth; dlt wants a password
        )
        conn = {
            "conn_type": "postgres",
            "host": host,
            "port": int(port),
            "login": "postgres",
            "schema": self.name,
        }
        os.environ["AIRFLOW_CONN_BENCH_PG"] = json.dumps(conn)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def written(self, table: str) -> int:
        """Rows inserted + updated + deleted in ``table`` so far (a closed backend's stats are flushed)."""
        time.sleep(1.2)
        schema, _, name = table.rpartition(".")
        rows = self.sql(
            "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
            f"WHERE schemaname = '{schema or 'public'}' AND relname = '{name}'"
        )
        return int(rows[0][0]) if rows else 0

    def settle(self, timeout: float = 60.0) -> float:
        """Wait out the background work a previous run left, before any runner's clock; its seconds.

        A ``CHECKPOINT`` writes the dirty buffers, then the wait lasts until no autovacuum
        worker runs in the bench's database (dlt's re-runs leave 200,000+ dead rows behind, a
        first load an unvacuumed table). Every runner gets the same before every scenario.
        """
        start = time.perf_counter()
        self.sql("CHECKPOINT")
        while time.perf_counter() - start < timeout:
            busy = self.sql(
                "SELECT count(*) FROM pg_stat_activity "
                f"WHERE backend_type = 'autovacuum worker' AND datname = '{self.name}'"
            )
            if not busy[0][0]:
                break
            time.sleep(0.2)
        return time.perf_counter() - start

    def close(self) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()


def postgres(
    rows: int, reps: int, dlt_default_max: int, workdir: str, *, settle: bool = True, shuffled: bool = False
) -> None:
    db = Postgres()
    try:
        plan = scenarios(rows, shuffled=shuffled)
        staged = {name: stage(f"{workdir}/{i}", **spec) for i, (name, spec) in enumerate(plan.items())}
        peaks: list[float] = []
        runners: dict[str, Runner] = {
            "ours": Ours(db, staged, peaks),
            "dlt fast (Arrow+parquet/ADBC, upsert)": DltRunner(db, plan, fast=True),
            "dlt fast, reading the staged files": DltRunner(db, plan, fast=True, staged=staged),
            "floor (COPY text + ours' merge)": Floor(db, plan),
        }
        if rows <= dlt_default_max:
            runners["dlt default (merge)"] = DltRunner(db, plan, fast=False)
        figures: dict[tuple[str, str], list[float]] = {}
        written: dict[tuple[str, str], int] = {}
        arrangement = "records in a random order of ids" if shuffled else "records in id order"
        print(f"PostgreSQL, {rows:,} rows, {arrangement}, load average {load_average()}")
        for rep in range(reps):
            order = list(runners) if rep % 2 == 0 else list(reversed(runners))
            for runner in order:
                table = runners[runner].reset(rep)
                for scenario in plan:
                    work = runners[runner].make(scenario)
                    before = db.written(table)
                    settled = f"  settled {db.settle():.1f} s" if settle else ""
                    seconds = work()
                    n = plan[scenario]["rows"] + plan[scenario].get("new", 0)
                    figures.setdefault((runner, scenario), []).append(n / seconds)
                    written[(runner, scenario)] = db.written(table) - before
                    print(
                        f"  rep {rep + 1} {runner:<38} {scenario:<21} {n / seconds:>9,.0f} rows/s "
                        f"written {written[(runner, scenario)]:>9,}  load {load_average()}{settled}"
                    )
        checks = {runner: db.sql(CHECKSUM.format(table=spec.table))[0] for runner, spec in runners.items()}
        print(f"  final tables equal: {len(set(checks.values())) == 1} {checks}")
        _report(plan, figures, written, list(runners))
        print(f"  ours peak RSS: {max(peaks):,.0f} MB (over all runs)")
        db.sql("CREATE TABLE bare " + COLUMNS)
        text = copy_text(list(contacts(rows)))
        print(
            f"  floor: bare COPY into an empty keyed table: "
            f"{rows / timed(lambda: pg_bare_copy(db.dsn, 'bare', text)):,.0f} rows/s"
        )
        refused_values(db, workdir)
        insert_rows_reference(db, min(rows, 50_000))
    finally:
        db.close()


class Runner:
    """One peer: ``reset`` gives it a fresh table, ``make`` its timed work for a scenario."""

    table = ""

    def reset(self, rep: int) -> str:
        raise NotImplementedError

    def make(self, scenario: str) -> Callable[[], float]:
        raise NotImplementedError


class Ours(Runner):
    def __init__(self, db: Postgres, staged: dict[str, Any], peaks: list[float]) -> None:
        self.db, self.staged, self.peaks = db, staged, peaks

    def reset(self, rep: int) -> str:
        self.table = f"ours_{rep}"
        return self.table

    def make(self, scenario: str) -> Callable[[], float]:
        return lambda: ours("airflow:bench_pg", self.table, self.staged[scenario], self.peaks)


class DltRunner(Runner):
    """dlt's merge; ``staged``: its fast path reading ours' staged files inside the clock."""

    def __init__(
        self,
        db: Postgres,
        plan: dict[str, dict[str, int]],
        *,
        fast: bool,
        staged: dict[str, Any] | None = None,
    ) -> None:
        self.db, self.plan, self.fast, self.staged = db, plan, fast, staged

    def reset(self, rep: int) -> str:
        # A new dataset per repetition: dlt keeps its own idea of which tables exist.
        kind = "default" if not self.fast else "files" if self.staged else "fast"
        self.runner = Dlt(self.db.url, f"dlt_{kind}_{rep}", fast=self.fast)
        self.table = self.runner.table
        return self.table

    def make(self, scenario: str) -> Callable[[], float]:
        if self.staged is not None:
            staged = self.staged[scenario]
            return lambda: timed(lambda: self.runner.run(staged_arrow(staged)))
        data = self.runner.prepare(list(contacts(**self.plan[scenario])))
        return lambda: timed(lambda: self.runner.run(data))


def staged_arrow(staged: dict[str, Any]) -> Any:
    """A staged batch as one Arrow table, read by pyarrow's JSON reader (what a dlt user would do)."""
    import gzip
    import io

    import pyarrow as pa
    import pyarrow.json as pj

    from reliable_api.staging.files import as_path

    directory = as_path(staged["path"])
    parts = [
        pj.read_json(io.BytesIO(gzip.decompress((directory / name).read_bytes()))) for name in staged["parts"]
    ]
    return pa.concat_tables(parts)


class Floor(Runner):
    def __init__(self, db: Postgres, plan: dict[str, dict[str, int]]) -> None:
        self.db, self.plan = db, plan

    def reset(self, rep: int) -> str:
        self.table = f"floor_{rep}"
        self.db.sql(f"CREATE TABLE {self.table} {COLUMNS}")
        return self.table

    def make(self, scenario: str) -> Callable[[], float]:
        text = copy_text(list(contacts(**self.plan[scenario])))
        return lambda: timed(lambda: pg_floor(self.db.dsn, self.table, text))


def _report(
    plan: Any,
    figures: dict[tuple[str, str], list[float]],
    written: dict[tuple[str, str], int],
    runners: list[str],
) -> None:
    print("\n  | scenario | " + " | ".join(runners) + " | ours / floor | ours / dlt fast |")
    print("  |---|" + "---:|" * (len(runners) + 2))
    for scenario in plan:
        best = {runner: max(figures[(runner, scenario)]) for runner in runners}
        cells = [f"{best[r]:,.0f} ({written[(r, scenario)]:,})" for r in runners]
        floor = next(r for r in runners if r.startswith("floor"))
        fast = next(r for r in runners if r.startswith("dlt fast"))
        print(
            f"  | {scenario} | "
            + " | ".join(cells)
            + f" | {best['ours'] / best[floor]:.2f} | {best['ours'] / best[fast]:.2f} |"
        )
    print("  (rows/s, best of the repetitions; in brackets rows written by the last repetition)\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--dlt-default-max-rows", type=int, default=200_000)
    parser.add_argument(
        "--other-rows", type=int, default=200_000, help="rows for SQLite and MariaDB (0: skip)"
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="PostgreSQL: no CHECKPOINT and no wait for autovacuum before each scenario",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="only SQLite and MariaDB")
    parser.add_argument(
        "--shuffled",
        action="store_true",
        help="PostgreSQL: every runner's records in the same random order of ids, not in id order",
    )
    parser.add_argument(
        "--refused-only",
        type=int,
        metavar="REPS",
        help="only issue 13's case (10,000 records, 1%% refused, against clean), REPS runs of each",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        if args.refused_only:
            db = Postgres()
            try:
                refused_values(db, workdir, reps=args.refused_only)
            finally:
                db.close()
        elif not args.skip_postgres:
            postgres(
                args.rows,
                args.reps,
                args.dlt_default_max_rows,
                workdir,
                settle=not args.no_settle,
                shuffled=args.shuffled,
            )
        if args.other_rows and not args.refused_only:
            other_engines(args.other_rows, args.reps, workdir)


if __name__ == "__main__":
    main()
