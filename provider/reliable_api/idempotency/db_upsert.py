"""Dialect-native database upserts that write only the rows whose content changed.

A batch is staged into a temporary table (``COPY`` on PostgreSQL with psycopg 2 or 3, bound
``executemany`` elsewhere) and merged with one statement whose update fires only when the row
changed: by default when a non-key column differs (null-safe), or, with ``hash_column``, when the
stored content hash (:func:`~reliable_api.idempotency.keys.content_hash` of the non-key columns)
differs. docs/adr/0005-database-upserts.md says why and what each costs.

- PostgreSQL: ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE (t.a, ...) IS
  DISTINCT FROM (excluded.a, ...) RETURNING (xmax = 0)``: inserted and updated counted exactly;
- SQLite: the same with ``IS NOT``;
- MySQL/MariaDB: ``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE``, which leaves rows whose values
  are all equal unwritten.

An unchanged re-run therefore writes no rows. Records with no key, or values JSON cannot hold, are
returned as rejections with their reason, never dropped; duplicate keys inside a batch: the last
one wins and the others are counted.
"""

from __future__ import annotations

import io
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError, RecordRejected
from reliable_api.idempotency.keys import canonical_json, content_hash, natural_key
from reliable_api.idempotency.sql_identifiers import check_identifier, check_identifiers, qualified, quote
from reliable_api.idempotency.sql_schema import create_table, target_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

DEFAULT_BATCH_SIZE = 50_000
HASH_COLUMN = "_row_hash"


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
    hash_column: str | None = None,
    columns: Sequence[str] | None = None,
) -> UpsertResult:
    """Upsert ``records`` (dicts) into ``table`` on ``key``, writing only new or changed rows.

    :param engine: a SQLAlchemy engine (PostgreSQL, SQLite, MySQL/MariaDB).
    :param table: the target table.
    :param records: the records; fields that are not columns of the table are not written.
    :param key: the key columns; the table needs a primary key or unique constraint on them.
    :param schema: the table's schema (database on MySQL), or the default one.
    :param create: a declared schema (column -> type among
        :data:`~reliable_api.idempotency.sql_schema.COLUMN_TYPES`): create the table if missing.
    :param batch_size: records staged and merged per transaction.
    :param hash_column: a column holding each row's content hash (e.g. :data:`HASH_COLUMN`),
        compared instead of every non-key column (created with the table when ``create`` is given).
    :param columns: the non-key columns to write; default every column of the table. A column left
        out keeps its value on update and gets its default on insert (e.g. ``loaded_at``).
    :raises ConfigurationError: for an invalid identifier, a missing table or column, or a key
        without a unique constraint.
    """
    table = check_identifier(table, "table")
    if schema is not None:
        check_identifier(schema, "schema")
    key = check_identifiers(list(key), "key column")
    if hash_column is not None:
        check_identifier(hash_column, "hash column")
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
    if create is not None:
        check_identifiers(list(create), "column")
        create_table(engine, table, create, key=key, schema=schema, hash_column=hash_column)
    existing = target_columns(engine, table, key=key, schema=schema)
    if hash_column is not None and hash_column not in existing:
        raise ConfigurationError(
            f"table {table!r} has no {hash_column!r} column for the content hash; "
            "add it (text or varchar(64))"
        )
    wanted = existing if columns is None else check_identifiers(list(columns), "column")
    unknown = [name for name in wanted if name not in existing]
    if unknown:
        raise ConfigurationError(f"table {table!r} has no columns {unknown}")
    values = [check_identifier(name, "column") for name in wanted if name not in key and name != hash_column]
    merger = _Merger(engine, table, schema, key, values, hash_column)
    result = UpsertResult()
    for chunk in _chunks(records, batch_size):
        rows = _prepare(chunk, key, values, result, hashed=hash_column is not None)
        if rows:
            inserted, updated = merger.merge(rows)
            result.inserted += inserted
            result.updated += updated
            result.unchanged += len(rows) - inserted - updated
    return result


def _chunks(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _prepare(
    chunk: list[Any], key: list[str], values: list[str], result: UpsertResult, *, hashed: bool
) -> list[list[Any]]:
    """Rows (key, other values[, hash]) of ``chunk``, the last duplicate winning; rejects recorded."""
    rows: dict[str, list[Any]] = {}
    columns = [*key, *values]
    for record in chunk:
        record_key: str | None = None
        try:
            if not isinstance(record, Mapping):
                raise RecordRejected(
                    f"not a record (a mapping): {type(record).__name__}", reason="not_a_record"
                )
            record_key = natural_key(record, key)
            # Most values bind as they are; the type test inline saves a call per value.
            row = [v if type(v) in _PLAIN else _bindable(v) for v in map(record.get, columns)]
            if hashed:
                row.append(content_hash({name: record.get(name) for name in values}))
        except RecordRejected as error:
            error.record_key = record_key
            result.rejected.append(Rejection(record, error))
            continue
        if record_key in rows:
            result.duplicates += 1
            del rows[record_key]  # re-inserted below: the batch keeps the order of last occurrences
        rows[record_key] = row
    return list(rows.values())


_PLAIN = frozenset({str, int, bool, type(None)})


def _bindable(value: Any) -> Any:
    """``value`` as a driver binds it: JSON text for dicts and lists (json and text columns alike).

    :raises RecordRejected: for what JSON cannot hold (NaN, infinity, sets, objects), as the
        staged files and content hashes refuse it.
    """
    if value is None or isinstance(value, (str, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return canonical_json(value)  # JSON text for dicts and lists; RecordRejected for the rest


class _Merger:
    """Stages a batch into a temporary table and merges it into the target, per dialect."""

    def __init__(
        self,
        engine: Engine,
        table: str,
        schema: str | None,
        key: list[str],
        values: list[str],
        hash_column: str | None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("postgresql", "sqlite", "mysql", "mariadb"):
            raise ConfigurationError(
                f"database upserts support PostgreSQL, SQLite and MySQL, not {self.dialect}"
            )
        self.target = qualified(engine.dialect, table, schema)
        self.key = key
        self.compared = [hash_column] if hash_column else values
        self.columns = [*key, *values, *([hash_column] if hash_column else [])]
        self.column_list = ", ".join(self._quote(name) for name in self.columns)
        self.use_copy = self.dialect == "postgresql" and engine.dialect.driver in ("psycopg2", "psycopg")

    def _quote(self, name: str) -> str:
        return quote(self.engine.dialect, name)

    def merge(self, rows: list[list[Any]]) -> tuple[int, int]:
        """Write ``rows``; return (inserted, updated)."""
        stage = self._quote(f"_rapi_stage_{uuid.uuid4().hex[:16]}")
        with self.engine.begin() as connection:
            self._stage(connection, stage, rows)
            if self.dialect == "postgresql":
                return self._merge_postgres(connection, stage)
            existing, changed = self._count_existing(connection, stage)
            connection.exec_driver_sql(self._merge_sql(stage))
            connection.exec_driver_sql(
                f"DROP {'TEMPORARY ' if self.dialect != 'sqlite' else ''}TABLE {stage}"
            )
            return len(rows) - existing, changed

    def _stage(self, connection: Connection, stage: str, rows: list[list[Any]]) -> None:
        from sqlalchemy import text

        select = f"SELECT {self.column_list} FROM {self.target}"
        if self.dialect == "postgresql":
            create = f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS {select} WITH NO DATA"
        else:
            temporary = "TEMP" if self.dialect == "sqlite" else "TEMPORARY"
            create = f"CREATE {temporary} TABLE {stage} AS {select} WHERE 1 = 0"
        connection.exec_driver_sql(create)
        if self.use_copy:
            copy = f"COPY {stage} ({self.column_list}) FROM STDIN"
            cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            if self.engine.dialect.driver == "psycopg2":
                cursor.copy_expert(copy, io.StringIO(_copy_text(rows)))
            else:  # psycopg 3, which the postgres provider's hook prefers when installed
                with cursor.copy(copy) as stream:
                    stream.write(_copy_text(rows))
            return
        names = [f"p{index}" for index in range(len(self.columns))]
        insert = text(
            f"INSERT INTO {stage} ({self.column_list}) VALUES ({', '.join(':' + n for n in names)})"
        )
        connection.execute(insert, [dict(zip(names, row, strict=True)) for row in rows])

    def _changed(self, stored: str, new: str) -> str:
        """SQL that is true when a compared column differs between rows ``stored`` and ``new``."""
        pairs = [(f"{stored}.{self._quote(name)}", f"{new}.{self._quote(name)}") for name in self.compared]
        if not pairs:
            return "1 = 0"  # a table of key columns only: an existing row never changes
        if self.dialect == "postgresql":
            return f"({', '.join(a for a, _ in pairs)}) IS DISTINCT FROM ({', '.join(b for _, b in pairs)})"
        if self.dialect == "sqlite":
            return " OR ".join(f"{a} IS NOT {b}" for a, b in pairs)
        return " OR ".join(f"NOT ({a} <=> {b})" for a, b in pairs)

    def _set(self, new: str) -> str:
        """The SET list of the update (``new`` formats a column); the key itself when nothing else."""
        others = [name for name in self.columns if name not in self.key] or self.key[:1]
        return ", ".join(f"{self._quote(name)} = {new.format(self._quote(name))}" for name in others)

    def _merge_postgres(self, connection: Connection, stage: str) -> tuple[int, int]:
        sql = (
            f"WITH merged AS (INSERT INTO {self.target} AS t ({self.column_list}) "
            f"SELECT {self.column_list} FROM {stage} "
            f"ON CONFLICT ({', '.join(self._quote(name) for name in self.key)}) "
            f"DO UPDATE SET {self._set('EXCLUDED.{}')} WHERE {self._changed('t', 'EXCLUDED')} "
            # xmax = 0 only on a freshly inserted row version: the documented insert-or-update tell.
            "RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        )
        inserted, updated = connection.exec_driver_sql(sql).one()
        return int(inserted), int(updated)

    def _count_existing(self, connection: Connection, stage: str) -> tuple[int, int]:
        """(rows of the batch already in the target, of those the ones that changed)."""
        on = " AND ".join(f"t.{self._quote(name)} = s.{self._quote(name)}" for name in self.key)
        sql = (
            f"SELECT count(*), COALESCE(SUM(CASE WHEN {self._changed('t', 's')} THEN 1 ELSE 0 END), 0) "
            f"FROM {stage} s JOIN {self.target} t ON {on}"
        )
        existing, changed = connection.exec_driver_sql(sql).one()
        return int(existing), int(changed)

    def _merge_sql(self, stage: str) -> str:
        insert = f"INSERT INTO {self.target} AS t ({self.column_list}) SELECT {self.column_list} FROM {stage}"
        if self.dialect == "sqlite":
            # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint of the SELECT.
            return (
                f"{insert} WHERE true ON CONFLICT ({', '.join(self._quote(name) for name in self.key)}) "
                f"DO UPDATE SET {self._set('excluded.{}')} WHERE {self._changed('t', 'excluded')}"
            )
        # MySQL writes no row whose new values all equal the stored ones: no condition needed.
        insert = insert.replace(" AS t ", " ")
        return f"{insert} ON DUPLICATE KEY UPDATE {self._set('VALUES({})')}"


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)  # digits need no escaping
    return (value if isinstance(value, str) else str(value)).translate(_COPY_ESCAPES)


def _copy_text(rows: list[list[Any]]) -> str:
    """``rows`` in COPY's text format: tab-separated, NULL as backslash-N, backslash escapes."""
    # Most values are printable text without a backslash: they go as they are, without a call.
    return "".join(
        "\t".join(
            [v if type(v) is str and v.isprintable() and "\\" not in v else _copy_value(v) for v in row]
        )
        + "\n"
        for row in rows
    )
