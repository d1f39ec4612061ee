"""A PostgreSQL target table read from the catalog in one query, instead of SQLAlchemy's reflection.

Reflection asks six questions (does the table exist, its primary key, unique constraints,
indexes, columns, and the enums and domains those need), each a SQLAlchemy statement compiled
for the first time in a task's process: 46-58 ms before the first batch, measured
(docs/benchmarks.md, session 9). One statement over ``pg_attribute``, ``pg_type`` and
``pg_index`` answers all of them, and also how each column travels in a binary ``COPY``
(:data:`~reliable_api.idempotency.db_upsert_pg_binary.COLUMNS_SQL`'s questions), so the loader
asks nothing of the catalog again.

The column types come back as the SQLAlchemy types reflection gives for the types the upsert
treats apart (integers, ``numeric``, floats, ``boolean``, text with or without a length, enums,
dates, timestamps, times); a domain as the type under it, whose checks the database still
applies; any other type as ``NullType``, which keeps the table on the careful path, as JSON,
arrays, ``uuid`` and the like always were.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# One row: the table's oid, its columns in order as JSON (each with the declared type as
# format_type spells it, and the type under its domains, recursively), and the key columns of
# each unique index that is neither partial nor on an expression (primary keys and unique
# constraints are such indexes); no row when there is no such table. to_regclass resolves the
# name from the latest catalog, the scans read the statement's snapshot: the table's pg_class row
# is read in that snapshot too, so a table another session created after the snapshot is not
# half seen (found, but without its columns and key) but not seen at all. Only the parameter is
# a value; no name is in the text.
CATALOG_SQL = """
WITH RECURSIVE rel AS (SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass(%(table)s)),
col AS (
  SELECT a.attnum, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS formatted,
    a.atttypid AS base, a.atttypmod AS basemod
  FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid
  WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT col.attnum, col.name, col.formatted, t.typbasetype, t.typtypmod
  FROM col JOIN pg_type t ON t.oid = col.base WHERE t.typtype = 'd'
)
SELECT rel.oid::bigint,
  (SELECT json_agg(json_build_array(
      col.name, col.formatted, t.typname, t.typnamespace = 'pg_catalog'::regnamespace, t.typtype,
      format_type(col.base, col.basemod),
      CASE WHEN t.typtype = 'e' THEN
        (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
      END,
      NOT EXISTS (SELECT 1 FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
                  WHERE c.castsource = t.oid AND c.casttarget = t.oid AND p.pronargs = 3)
      AND NOT EXISTS (SELECT 1 FROM pg_cast c
                      WHERE c.castsource = 'text'::regtype AND c.casttarget = t.oid AND c.castmethod = 'f')
    ) ORDER BY col.attnum)
   FROM col JOIN pg_type t ON t.oid = col.base WHERE t.typtype <> 'd'),
  (SELECT json_agg(ARRAY(SELECT a.attname FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k))
   FROM pg_index i WHERE i.indrelid = rel.oid AND i.indisunique AND i.indpred IS NULL
     AND i.indexprs IS NULL)
FROM rel
"""


@dataclass(frozen=True)
class CatalogColumn:
    """One column as the catalog describes it.

    :param name: the column's name.
    :param formatted: its declared type as ``format_type`` spells it (a domain by its name).
    :param base: the name of the type under its domains (``int8``, ``varchar``, an enum's name...).
    :param builtin: whether that type is one of PostgreSQL's own (schema ``pg_catalog``).
    :param kind: that type's ``typtype``: ``b`` base, ``e`` enum, ``c`` composite, ``r`` range...
    :param base_formatted: that type with its modifier, as ``format_type`` spells it.
    :param labels: an enum's labels in order, else None.
    :param castable: whether a ``CAST`` from text to that type is its input function.
    """

    name: str
    formatted: str
    base: str
    builtin: bool
    kind: str
    base_formatted: str
    labels: tuple[str, ...] | None
    castable: bool


def read_catalog(connection: Connection, name: str) -> tuple[list[CatalogColumn], list[set[str]]] | None:
    """The columns of the table ``name`` (quoted, maybe schema-qualified) and its unique key sets.

    None when there is no such table.
    """
    cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(CATALOG_SQL, {"table": name})
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    _, columns, unique = row
    found = [
        CatalogColumn(
            str(c[0]),
            str(c[1]),
            str(c[2]),
            bool(c[3]),
            str(c[4]),
            str(c[5]),
            tuple(c[6]) if c[6] is not None else None,
            bool(c[7]),
        )
        for c in columns or []
    ]
    return found, [set(names) for names in unique or []]


def catalog_target(
    connection: Connection, name: str, *, key: Sequence[str], shown: str
) -> tuple[dict[str, Any], list[CatalogColumn]] | None:
    """Column -> SQLAlchemy type, and the catalog's columns, of ``name``; None when it does not exist.

    :param shown: the table's name as errors show it.

    :raises ConfigurationError: when no primary key, unique constraint or unique index (neither
        partial nor on an expression) covers exactly the ``key`` columns.
    """
    found = read_catalog(connection, name)
    if found is None:
        return None
    columns, unique = found
    if set(key) not in unique:
        raise ConfigurationError(
            f"table {shown!r} has no primary key or unique constraint on the key columns {list(key)}; "
            "an upsert needs one to recognise existing rows"
        )
    return {c.name: sqlalchemy_type(c) for c in columns}, columns


_ARGUMENTS = re.compile(r"\((\d+)(?:,(\d+))?\)")


def sqlalchemy_type(column: CatalogColumn) -> Any:
    """The SQLAlchemy type reflection gives for ``column``'s type (under its domains).

    Types the upsert does not treat apart come back as ``NullType`` (the careful path).
    """
    from sqlalchemy import types

    if column.kind == "e":
        return types.Enum(*(column.labels or ()), name=column.base)
    if column.kind != "b" or not column.builtin:
        return types.NullType()
    found = _ARGUMENTS.search(column.base_formatted)
    size = int(found.group(1)) if found else None
    scale = int(found.group(2)) if found and found.group(2) is not None else None
    made: dict[str, Any] = {
        "int8": types.BigInteger,
        "int4": types.Integer,
        "int2": types.SmallInteger,
        "bool": types.Boolean,
        "float8": lambda: types.Float(53),
        "float4": types.REAL,
        "numeric": lambda: types.Numeric(size, scale) if scale is not None else types.Numeric(),
        "text": types.Text,
        "varchar": lambda: types.VARCHAR(size),
        "bpchar": lambda: types.CHAR(size),
        "date": types.Date,
        "timestamp": lambda: types.DateTime(timezone=False),
        "timestamptz": lambda: types.DateTime(timezone=True),
        "time": lambda: types.Time(timezone=False),
        "timetz": lambda: types.Time(timezone=True),
    }
    return made[column.base]() if column.base in made else types.NullType()
