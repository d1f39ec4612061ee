"""PostgreSQL's binary ``COPY`` format, made from an Arrow table with no Python per record.

A column whose type has a simple, exact binary form (``bigint``, ``integer``, ``smallint``,
``boolean``, ``double precision``, ``date``, ``text``, ``varchar``, ``char``, and a domain over
one of them) is sent in that form: PostgreSQL's receive function takes it without parsing text,
and applies the column's length and the domain's checks as the text input function would. Every
other column (``numeric``, ``real``, timestamps, times, a domain over those...) is sent as the
text the CSV writer would have written, into a ``text`` column of the stage, and cast to the
column's type in the merge's source (:func:`source`). A ``CAST`` from text runs the type's input
function, except where a type's length coercion behaves differently when explicit (``char(n)``,
``varchar(n)``, ``bit(n)`` truncate silently instead of refusing) or a function casts from text:
those are sent natively, or the target takes the CSV path (:func:`pg_columns` returns None).

Each field is an Arrow binary array of its 4-byte big-endian length and its value (fixed-width
values byte-swapped with the stdlib's :mod:`array`), and ``binary_join_element_wise`` joins a
row's fields, a null becoming the length -1. docs/adr/0028-db-upserts-in-the-database.md says
what it saves.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.sql_merge import Target

#: The signature, the flags (no OIDs) and the header extension's length (none).
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
#: A field count of -1 ends the data.
TRAILER = b"\xff\xff"
#: A null field: its length, -1.
NULL = b"\xff\xff\xff\xff"
#: Days from 1970-01-01 (Arrow's date32) to 2000-01-01 (PostgreSQL's dates).
PG_EPOCH_DAYS = 10957
#: The built-in types sent in their binary form, by name: the kind of encoding.
NATIVE = {
    "int8": "int8",
    "int4": "int4",
    "int2": "int2",
    "bool": "bool",
    "float8": "float8",
    "date": "date",
    "text": "text",
    "varchar": "text",
    "bpchar": "text",
}
#: Kind -> (the Arrow type the batch must hold, the array typecode, the width in bytes).
FIXED = {
    "int8": ("int64", "q", 8),
    "int4": ("int64", "i", 4),
    "int2": ("int64", "h", 2),
    "bool": ("bool", "b", 1),
    "float8": ("double", "d", 8),
    "date": ("string", "i", 4),
}

# Each column's type, the type under its domains (recursively), and whether a CAST from text
# is that type's input function: no length coercion that takes an "is explicit" argument, no
# function registered for the cast from text.
COLUMNS_SQL = """
WITH RECURSIVE col AS (
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS formatted, a.atttypid AS base
  FROM pg_attribute a
  WHERE a.attrelid = to_regclass(:table) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT col.name, col.formatted, t.typbasetype FROM col JOIN pg_type t ON t.oid = col.base
  WHERE t.typtype = 'd'
)
SELECT col.name, col.formatted,
  CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN t.typname END AS builtin,
  NOT EXISTS (SELECT 1 FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
              WHERE c.castsource = t.oid AND c.casttarget = t.oid AND p.pronargs = 3)
  AND NOT EXISTS (SELECT 1 FROM pg_cast c
                  WHERE c.castsource = 'text'::regtype AND c.casttarget = t.oid AND c.castmethod = 'f')
  AS castable
FROM col JOIN pg_type t ON t.oid = col.base
WHERE t.typtype <> 'd'
"""


@dataclass(frozen=True)
class Column:
    """How one column of the target travels in the binary ``COPY``.

    :param name: the column's name.
    :param kind: a key of :data:`FIXED`, "text" (a string's UTF-8 bytes as they are) or "cast"
        (its text, in a ``text`` column of the stage, cast in the merge's source).
    :param type: the column's type as ``format_type`` spells it (SQL the database wrote).
    """

    name: str
    kind: str
    type: str


def pg_columns(connection: Connection, target: Target, schema: Any) -> list[Column] | None:
    """How each of ``target``'s columns travels, read from the catalog; None: the CSV path.

    :param schema: the Arrow schema the batch is parsed with (a column whose Arrow type is not
        the one its native kind encodes is sent as text).
    """
    if target.catalog is not None:  # read with the table's check (db_upsert_pg_catalog)
        by_name = {c.name: (c.formatted, c.base if c.builtin else None, c.castable) for c in target.catalog}
    else:
        from sqlalchemy import text

        found = connection.execute(text(COLUMNS_SQL), {"table": target.name}).all()
        by_name = {
            str(name): (str(formatted), builtin, bool(castable))
            for name, formatted, builtin, castable in found
        }
    columns = []
    for name in target.columns:
        if name not in by_name:
            return None
        formatted, builtin, castable = by_name[name]
        kind = NATIVE.get(str(builtin)) if builtin is not None else None
        arrow = str(schema.field(name).type)
        if kind is not None and arrow != FIXED.get(kind, ("string",))[0]:
            kind = None
        if kind is None:
            if not castable:
                return None
            kind = "cast"
        columns.append(Column(name, kind, formatted))
    return columns


def stage_select(target: Target, columns: list[Column]) -> str:
    """``SELECT`` for ``CREATE TABLE AS ... WITH NO DATA``: the stage the binary ``COPY`` fills.

    Natively sent columns keep the target's type (and length, collation, domain); the others are
    ``text``. The stage takes the CSV of the same columns too.
    """
    q = target.q
    items = [f"CAST(NULL AS text) AS {q(c.name)}" if c.kind == "cast" else f"t.{q(c.name)}" for c in columns]
    return f"SELECT {', '.join(items)} FROM {target.name} t"


def source(target: Target, columns: list[Column], stage: str) -> str:
    """The merge's source over ``stage``: the stage itself, or a subquery casting its text columns."""
    if all(c.kind != "cast" for c in columns):
        return stage
    q = target.q
    items = [
        f"CAST(s.{q(c.name)} AS {c.type}) AS {q(c.name)}" if c.kind == "cast" else f"s.{q(c.name)}"
        for c in columns
    ]
    return f"(SELECT {', '.join(items)} FROM {stage} s)"


def encode(table: Any, columns: list[Column]) -> bytes:
    """``table`` (the columns of ``columns``, in their order) as binary ``COPY`` data.

    :raises pyarrow.ArrowInvalid: a value Arrow cannot convert (an integer over its column's
        range, a date Arrow cannot read): the screen doubts those first.
    """
    parts: list[Any] = [HEADER]
    for batch in table.to_batches():
        if batch.num_rows:
            parts.append(_rows(batch, columns))
    parts.append(TRAILER)
    return b"".join(parts)


def _rows(batch: Any, columns: list[Column]) -> memoryview:
    """The rows of one record batch, each its field count and fields, as one buffer."""
    import pyarrow.compute as pc

    fields = [_binary(len(columns).to_bytes(2, "big"))]
    for column, values in zip(columns, batch.columns, strict=True):
        fields += _field(column.kind, values)
    # A null left in ``fields`` is a null value's length (its value is empty): -1.
    rows = pc.binary_join_element_wise(*fields, _binary(b""), null_handling="replace", null_replacement=NULL)
    offsets = memoryview(rows.buffers()[1]).cast("i")
    start, end = offsets[rows.offset], offsets[rows.offset + len(rows)]
    return memoryview(rows.buffers()[2])[start:end]


def _field(kind: str, values: Any) -> list[Any]:
    """One column's fields as arguments of the row's join: each value's 4-byte length, its bytes.

    Where the value is null, the first argument is null (the join writes -1) and the second empty.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind in ("text", "cast"):
        if not pa.types.is_string(values.type):
            values = pc.cast(values, pa.string())  # what Arrow's CSV writer writes: a cast to string
        lengths = _big_endian(pc.binary_length(values), "i", 4)
        values = pc.cast(values, pa.binary())  # a view of the same buffers
        return [lengths, pc.fill_null(values, _binary(b"")) if values.null_count else values]
    _, typecode, width = FIXED[kind]
    if kind == "date":
        days = pc.cast(pc.cast(values, pa.date32()), pa.int32())
        values = pc.subtract(days, _int32(PG_EPOCH_DAYS))
    elif kind in ("int4", "int2"):
        values = pc.cast(values, pa.int32() if kind == "int4" else pa.int16())
    elif kind == "bool":
        values = pc.cast(values, pa.int8())
    length = _binary(width.to_bytes(4, "big"))
    encoded = _big_endian(values, typecode, width)
    if not values.null_count:
        return [length, encoded]
    return [pc.binary_join_element_wise(length, encoded, _binary(b""))]  # null where the value is


def _big_endian(values: Any, typecode: str, width: int) -> Any:
    """Fixed-width ``values`` (typecode ``typecode``) as big-endian bytes in a binary array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    validity, data = values.buffers()[:2]
    raw = array.array(typecode)
    raw.frombytes(memoryview(data)[: (values.offset + len(values)) * width])
    if sys.byteorder == "little":
        raw.byteswap()
    fixed = pa.Array.from_buffers(
        pa.binary(width), len(values), [validity, pa.py_buffer(raw)], offset=values.offset
    )
    return pc.cast(fixed, pa.binary())


def _binary(value: bytes) -> Any:
    """``value`` as an Arrow binary scalar made from a buffer.

    Not from a Python object: that makes pyarrow import pandas
    (:func:`~reliable_api.idempotency.db_upsert_arrow._constant`).
    """
    import pyarrow as pa

    offsets = pa.py_buffer(array.array("i", [0, len(value)]))
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(value)])[0]


def _int32(value: int) -> Any:
    """``value`` as an Arrow int32 scalar made from a buffer."""
    import pyarrow as pa

    return pa.Array.from_buffers(pa.int32(), 1, [None, pa.py_buffer(array.array("i", [value]))])[0]
