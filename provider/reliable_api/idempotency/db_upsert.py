"""Dialect-native database upserts that write only the rows whose content changed.

The records reach the database as JSON Lines (a staged batch's parts as they are, or records
encoded once each) and the database itself extracts, casts, checks and compares them: there is no
Python work per record on the way (docs/adr/0028-db-upserts-in-the-database.md).

- PostgreSQL: Arrow parses the lines and ``COPY`` loads them typed, or the lines are COPYed as
  text and a PL/pgSQL block casts them (:mod:`~reliable_api.idempotency.db_upsert_postgres`);
- SQLite: ``json_each`` and ``->>`` over the batch (:mod:`~reliable_api.idempotency.db_upsert_sqlite`);
- MySQL/MariaDB: ``LOAD DATA LOCAL INFILE`` of the lines and ``JSON_VALUE``
  (:mod:`~reliable_api.idempotency.db_upsert_mysql`).

Each batch is one transaction: staged rows whose stored row is already equal are left out
(unchanged), the rest merged with the dialect's upsert, counted as inserted or updated. An
unchanged re-run writes no rows. Records are never dropped: a record that is not an object, has
no key or a non-scalar one, a field the table has no column for, a value the column refuses
(type, length, constraint), or a key repeated with other values in the same batch comes back as
a :class:`Rejection` with its reason (and the column, for a refused value); the rest loads. A key
repeated with the same values is loaded once and counted in ``duplicates``.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reliable_api.core.keys import natural_key
from reliable_api.exceptions import ConfigurationError, RecordRejected
from reliable_api.idempotency.db_upsert_batches import LineBatch, record_batches, staged_batches
from reliable_api.idempotency.sql_identifiers import check_identifier, check_identifiers
from reliable_api.idempotency.sql_merge import Target
from reliable_api.idempotency.sql_schema import check_declared, create_table, target_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from reliable_api.idempotency.db_upsert_batches import BatchOutcome

DEFAULT_BATCH_SIZE = 50_000


@dataclass
class Rejection:
    """A record the upsert refused, with the reason (to dead-letter it)."""

    record: Any
    error: RecordRejected


@dataclass
class UpsertResult:
    """What an upsert did: rows inserted, updated and left unchanged, and what it refused."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The counts as a small JSON-safe dict (for XCom and run metrics)."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
        }


def upsert_records(
    engine: Engine,
    table: str,
    records: Iterable[Any],
    *,
    key: Sequence[str],
    schema: str | None = None,
    create: Mapping[str, str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    columns: Sequence[str] | None = None,
) -> UpsertResult:
    """Upsert ``records`` (dicts) into ``table`` on ``key``, writing only new or changed rows.

    :param engine: a SQLAlchemy engine (PostgreSQL, SQLite, MySQL/MariaDB).
    :param table: the target table.
    :param records: the records; a field that is no column of the table refuses its record.
    :param key: the key columns; the table needs a primary key or unique constraint on them.
    :param schema: the table's schema (database on MySQL), or the default one.
    :param create: a declared schema (column -> type among
        :data:`~reliable_api.idempotency.sql_schema.COLUMN_TYPES`): create the table if missing.
    :param batch_size: records staged and merged per transaction.
    :param columns: the non-key columns to write; default every column of the table. A column left
        out keeps its value on update and gets its default on insert (e.g. ``loaded_at``).
    :raises ConfigurationError: for an invalid identifier, a missing table or column, or a key
        without a unique constraint.
    """
    _check_size(batch_size)
    with _imports_frozen():
        target = _target(engine, table, key=key, schema=schema, create=create, columns=columns)
        return _run(engine, target, record_batches(records, batch_size))


def upsert_staged(
    engine: Engine,
    table: str,
    staged: Mapping[str, Any] | str,
    *,
    key: Sequence[str],
    schema: str | None = None,
    create: Mapping[str, str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    columns: Sequence[str] | None = None,
) -> UpsertResult:
    """:func:`upsert_records` of a staged batch (its XCom dict or directory), part by part.

    The gzip JSON Lines parts go to the database as they are: no record is decoded in Python
    except those the database refuses (to dead-letter them).
    """
    _check_size(batch_size)
    with _imports_frozen():
        target = _target(engine, table, key=key, schema=schema, create=create, columns=columns)
        return _run(engine, target, staged_batches(staged, batch_size))


def _check_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")


@contextlib.contextmanager
def _imports_frozen() -> Iterator[None]:
    """The objects the process holds before the upsert, out of the cyclic collector's reach during it.

    A full collection walks every object the process ever kept: in a process that imported
    Airflow, SQLAlchemy and pyarrow, one took 107-127 ms, and the load's own allocations are
    what trigger it, so it fell before the first batch reached the database (docs/benchmarks.md,
    session 9). ``gc.freeze`` parks those objects (as Airflow's executors do before forking); the
    load's own garbage is still collected, and ``gc.unfreeze`` hands the parked objects back at
    the end. Nothing is done where the collector is off or something else froze objects (a
    pre-fork server keeping its pages shared): their state is theirs.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _target(
    engine: Engine,
    table: str,
    *,
    key: Sequence[str],
    schema: str | None,
    create: Mapping[str, str] | None,
    columns: Sequence[str] | None,
) -> Target:
    """The checked :class:`Target`: names validated, table created or found, key unique."""
    table = check_identifier(table, "table")
    if schema is not None:
        check_identifier(schema, "schema")
    keys = check_identifiers(list(key), "key column")
    if engine.dialect.name not in ("postgresql", "sqlite", "mysql", "mariadb"):
        raise ConfigurationError(
            f"database upserts support PostgreSQL, SQLite and MySQL/MariaDB, not {engine.dialect.name}"
        )
    catalog = None
    if engine.dialect.name == "postgresql":
        existing, catalog = _pg_target(engine, table, key=keys, schema=schema, create=create)
    else:
        if create is not None:
            check_identifiers(list(create), "column")
            create_table(engine, table, create, key=keys, schema=schema)
        existing = target_columns(engine, table, key=keys, schema=schema)
    wanted = list(existing) if columns is None else check_identifiers(list(columns), "column")
    unknown = [name for name in wanted if name not in existing]
    if unknown:
        raise ConfigurationError(f"table {table!r} has no columns {unknown}")
    values = [check_identifier(name, "column") for name in wanted if name not in keys]
    for name in existing:
        check_identifier(name, "column")  # every column's name reaches the SQL of the checks
    return Target(engine.dialect, table, schema, keys, values, list(existing), dict(existing), catalog)


def _pg_target(
    engine: Engine, table: str, *, key: list[str], schema: str | None, create: Mapping[str, str] | None
) -> tuple[dict[str, Any], list[Any]]:
    """PostgreSQL: the table's column types and catalog columns, the table created if declared.

    One catalog query instead of SQLAlchemy's reflection (``db_upsert_pg_catalog``); the table
    is created only when that query finds none.
    """
    from reliable_api.idempotency.db_upsert_pg_catalog import catalog_target
    from reliable_api.idempotency.sql_identifiers import qualified

    name, shown = qualified(engine.dialect, table, schema), f"{schema}.{table}" if schema else table
    if create is not None:
        check_identifiers(list(create), "column")
        check_declared(table, create, key=key)
    for attempt in range(2):
        with engine.connect() as connection:
            found = catalog_target(connection, name, key=key, shown=shown)
        if found is not None:
            return found
        if create is None or attempt:
            break
        create_table(engine, table, create, key=key, schema=schema, checkfirst=False)
    raise ConfigurationError(f"table {shown!r} does not exist (pass a schema to create it)")


def _loader(target: Target, engine: Engine) -> Any:
    name = target.dialect.name
    if name == "postgresql":
        from reliable_api.idempotency.db_upsert_postgres import PostgresLoader

        return PostgresLoader(target, engine)
    if name == "sqlite":
        from reliable_api.idempotency.db_upsert_sqlite import SqliteLoader

        return SqliteLoader(target)
    from reliable_api.idempotency.db_upsert_mysql import MysqlLoader

    return MysqlLoader(target)


def _with_local_files(engine: Engine) -> Engine:
    """``engine``, or for MySQL a twin whose connections may ``LOAD DATA LOCAL`` (pymysql's flag)."""
    if engine.dialect.name not in ("mysql", "mariadb") or "local_infile" in engine.url.query:
        return engine
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(engine.url.update_query_dict({"local_infile": "1"}), poolclass=NullPool)


def _run(engine: Engine, target: Target, batches: Iterator[LineBatch]) -> UpsertResult:
    loading = _with_local_files(engine)
    try:
        return _load(loading, target, batches)
    finally:
        if loading is not engine:
            loading.dispose()


def _load(engine: Engine, target: Target, batches: Iterator[LineBatch]) -> UpsertResult:
    loader = _loader(target, engine)
    result = UpsertResult()

    def produce() -> tuple[LineBatch, Any] | None:
        batch = next(batches, None)
        return None if batch is None else (batch, loader.prepare(batch) if batch.lines else None)

    # The next batch is read (decompressed) and prepared (parsed on the client, where a loader
    # does) in a worker thread while the database merges the one before: the two overlap
    # instead of taking turns. At most two batches are in memory.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-upsert-prepare") as pool:
        coming = pool.submit(produce)
        while (item := coming.result()) is not None:
            coming = pool.submit(produce)
            batch, prepared = item
            result.rejected += [_rejection(record, error, target.key) for record, error in batch.refused]
            if batch.lines:
                _merge(engine, loader, target, batch, prepared, result)
    return result


def _merge(
    engine: Engine, loader: Any, target: Target, batch: LineBatch, prepared: Any, result: UpsertResult
) -> None:
    """Merge one prepared batch in its own transaction and add what it did to ``result``."""
    with engine.begin() as connection:
        outcome: BatchOutcome = loader.load(connection, batch, prepared)
    result.inserted += outcome.inserted
    result.updated += outcome.updated
    result.duplicates += outcome.duplicates
    result.unchanged += batch.lines - outcome.inserted - outcome.updated - outcome.duplicates
    result.unchanged -= len(outcome.refused)
    lines = batch.split() if outcome.refused else []  # once per batch: a split per record is n²
    for line, reason, message in outcome.refused:
        text = lines[line - 1].decode("utf-8", "replace")
        try:
            record: Any = json.loads(text)
        except ValueError:
            record = {"line": text}
        result.rejected.append(_rejection(record, RecordRejected(message, reason=reason), target.key))


def _rejection(record: Any, error: RecordRejected, key: list[str]) -> Rejection:
    """``record`` refused with ``error``, which gets the record's natural key when it has one."""
    if error.record_key is None and isinstance(record, Mapping):
        with contextlib.suppress(RecordRejected):  # no usable key: filed under a hash of the record
            error.record_key = natural_key(record, key)
    return Rejection(record, error)
