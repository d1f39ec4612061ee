"""Upserts into the state DB's tables: one call, whatever the dialect.

SQLite and PostgreSQL get ``INSERT ... ON CONFLICT (key)``; MySQL and MariaDB
``INSERT ... ON DUPLICATE KEY UPDATE``, which names no key: it fires on a clash with any unique key
of the table. The state tables have none besides ``key`` (an auto-increment id never clashes).

No deadlock retry on MySQL: each of these statements locks the one row of ``key`` (a competing
writer waits for it) and the transactions around them lock no other contended row, so no two
can wait on each other in a cycle (measured: none with 8 processes, ADR 0004). ``upsert_rows``
locks many rows in one transaction, always in key order, so two writers still cannot wait on each
other in a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Insert, Table

#: SQLAlchemy dialect names the state DB can live in (``mariadb+pymysql://`` is a dialect of its own).
SUPPORTED_DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")


def is_mysql(dialect_name: str) -> bool:
    """Whether ``dialect_name`` (``conn.dialect.name``) is MySQL's or MariaDB's."""
    return dialect_name in ("mysql", "mariadb")


def insert_missing(conn: Connection, table: Table, values: Mapping[str, Any], *, key: Sequence[str]) -> None:
    """Insert ``values`` into ``table`` unless a row with the same ``key`` exists; that row stays as it is.

    :param key: the columns of the primary key or unique constraint that identifies a row.
    :raises ConfigurationError: on a dialect the state DB does not support.
    """
    conn.execute(_insert_missing_statement(conn.dialect.name, table, values, key))


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    replace: Sequence[str],
    increment: str | None = None,
) -> None:
    """Insert each of ``rows``, or update the existing row with the same ``key``.

    On a clash, the row takes the new row's ``replace`` columns and one more in ``increment``.
    One statement executed for all rows at once (executemany): thousands of rows, one transaction.
    Rows must have the same columns and distinct keys (one statement may not touch a row twice).

    :raises ConfigurationError: on a dialect the state DB does not support.
    """
    from sqlalchemy import literal_column

    if not rows:
        return
    dialect = conn.dialect.name
    # Inline, not a bound parameter: pymysql's executemany cannot bind one after VALUES.
    bumped = {increment: table.c[increment] + literal_column("1")} if increment else {}
    if is_mysql(dialect):
        from sqlalchemy.dialects import mysql

        statement: Insert = mysql.insert(table)
        new = statement.inserted  # type: ignore[attr-defined]
        statement = statement.on_duplicate_key_update(  # type: ignore[attr-defined]
            {**{name: new[name] for name in replace}, **bumped}
        )
    elif dialect in ("postgresql", "sqlite"):
        from sqlalchemy.dialects import postgresql, sqlite

        statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_={**{name: new[name] for name in replace}, **bumped}
        )
    else:
        raise _unsupported(dialect)
    ordered = sorted(rows, key=lambda row: tuple(str(row[name]) for name in key))  # one lock order
    conn.execute(statement, [dict(row) for row in ordered])


def _insert_missing_statement(
    dialect: str, table: Table, values: Mapping[str, Any], key: Sequence[str]
) -> Insert:
    if is_mysql(dialect):
        from sqlalchemy.dialects import mysql

        # "Leave it as it is" sets a key column to itself: INSERT IGNORE would also turn real
        # errors (a value too long, a NULL in a NOT NULL column) into warnings.
        return mysql.insert(table).values(**values).on_duplicate_key_update({key[0]: table.c[key[0]]})
    if dialect in ("postgresql", "sqlite"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        return insert.values(**values).on_conflict_do_nothing(index_elements=list(key))
    raise _unsupported(dialect)


def _unsupported(dialect: str) -> ConfigurationError:
    return ConfigurationError(
        f"the state DB must be one of {', '.join(SUPPORTED_DIALECTS)}, not {dialect!r}: "
        "point the reliable_api_state connection at SQLite, PostgreSQL or MySQL/MariaDB"
    )
