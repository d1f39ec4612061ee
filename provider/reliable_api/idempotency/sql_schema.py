"""The target table of a database upsert: created from a declared schema, checked in the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.types import TypeEngine

#: The column types a declared schema may use.
COLUMN_TYPES = ("text", "integer", "bigint", "numeric", "boolean", "timestamp", "date", "json")


def _sql_type(name: str, *, is_key: bool) -> TypeEngine[Any]:
    from sqlalchemy import types
    from sqlalchemy.dialects import postgresql

    mapping: dict[str, TypeEngine[Any]] = {
        "text": types.Text(),
        "integer": types.Integer(),
        "bigint": types.BigInteger(),
        "numeric": types.Numeric(),
        "boolean": types.Boolean(),
        "timestamp": types.DateTime(timezone=True),
        "date": types.Date(),
        # jsonb on PostgreSQL: json has no equality, which the changed-row comparison needs.
        "json": types.JSON().with_variant(postgresql.JSONB(), "postgresql"),
    }
    if name not in mapping:
        raise ConfigurationError(f"unknown column type {name!r}; use one of {', '.join(COLUMN_TYPES)}")
    if name == "text" and is_key:
        # MySQL cannot index TEXT without a prefix length; a key needs a bounded type there.
        return types.Text().with_variant(types.String(255), "mysql", "mariadb")
    return mapping[name]


def check_declared(table: str, columns: Mapping[str, str], *, key: Sequence[str]) -> None:
    """Refuse a declared schema that lacks a key column or names an unknown type.

    Checked whether or not the table exists, so a bad declaration fails on every run.
    """
    missing = [name for name in key if name not in columns]
    if missing:
        raise ConfigurationError(f"key columns {missing} are not in the declared schema of {table!r}")
    for kind in columns.values():
        _sql_type(kind, is_key=False)


def create_table(
    engine: Engine,
    table: str,
    columns: Mapping[str, str],
    *,
    key: Sequence[str],
    schema: str | None,
    checkfirst: bool = True,
) -> None:
    """Create ``table`` with ``columns`` (name -> type) and a primary key on ``key``.

    Does nothing when the table exists (it is then checked like any other target).

    :param checkfirst: look for the table first (False: the caller just found none; a table
        made since is still taken as it is).
    """
    from sqlalchemy import Column, MetaData, Table, inspect
    from sqlalchemy.exc import DBAPIError

    check_declared(table, columns, key=key)
    target = Table(
        table,
        MetaData(),
        *(
            # No AUTO_INCREMENT on MySQL, where it would turn a key value of 0 into a new number.
            Column(name, _sql_type(kind, is_key=name in key), primary_key=name in key, autoincrement=False)
            for name, kind in columns.items()
        ),
        schema=schema,
    )
    try:
        target.create(engine, checkfirst=checkfirst)
    except DBAPIError:
        # Loads racing to a new table (two runs, two DAGs): another one created it between the
        # check and the CREATE ("already exists"; on PostgreSQL maybe a catalog unique violation).
        if not inspect(engine).has_table(table, schema=schema):
            raise


def target_columns(
    engine: Engine, table: str, *, key: Sequence[str], schema: str | None
) -> dict[str, TypeEngine[Any]]:
    """The columns of ``table`` and their types, after checking that ``key`` is unique there.

    :raises ConfigurationError: when the table does not exist, or when no primary key, unique
        constraint or unique index covers exactly the ``key`` columns (an upsert on such a key
        cannot tell an update from an insert, so every database would refuse it or duplicate).
    """
    from sqlalchemy import inspect

    inspector = inspect(engine)
    name = f"{schema}.{table}" if schema else table
    if not inspector.has_table(table, schema=schema):
        raise ConfigurationError(f"table {name!r} does not exist (pass a schema to create it)")
    wanted = set(key)
    unique_sets = [set(inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or [])]
    unique_sets += [set(c["column_names"]) for c in inspector.get_unique_constraints(table, schema=schema)]
    unique_sets += [
        {str(column) for column in index["column_names"]}
        for index in inspector.get_indexes(table, schema=schema)
        if index.get("unique")
    ]
    if wanted not in unique_sets:
        raise ConfigurationError(
            f"table {name!r} has no primary key or unique constraint on the key columns {list(key)}; "
            "an upsert needs one to recognise existing rows"
        )
    return {str(column["name"]): column["type"] for column in inspector.get_columns(table, schema=schema)}
