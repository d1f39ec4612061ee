"""The binary COPY of the PostgreSQL fast path gives exactly the rows its CSV gave, edge values included.

The same Arrow table is loaded twice into real PostgreSQL: as CSV (what the fast path sent
before) into a stage shaped like the target, and as binary COPY data into the stage
:func:`stage_select` makes, read through the merge's :func:`source` (its text columns cast).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from itertools import cycle, islice
from typing import Any

import pytest
from db_upsert_pg_types import engine_with_types

pytest.importorskip("pyarrow")

import pyarrow as pa
from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import upsert_records
from reliable_api.idempotency.db_upsert_arrow import write_csv
from reliable_api.idempotency.db_upsert_pg_binary import Column, encode, pg_columns, source, stage_select
from reliable_api.idempotency.sql_merge import Target

# column -> (its SQL type, the Arrow type the fast path parses it as, edge values cycled over the rows)
COLUMNS: dict[str, tuple[str, Any, list[Any]]] = {
    "big": ("bigint", pa.int64(), [-(2**63), 2**63 - 1, 0, -1, None, 42]),
    "i4": ("integer", pa.int64(), [-(2**31), 2**31 - 1, 0, -7, None]),
    "i2": ("smallint", pa.int64(), [-(2**15), 2**15 - 1, 0, None]),
    "flag": ("boolean", pa.bool_(), [True, False, None]),
    "f8": (
        "double precision",
        pa.float64(),
        [0.1, 1 / 3, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, -2.5, None, 1e20],
    ),
    "day": (
        "date",
        pa.string(),
        ["0001-01-01", "2024-02-29", "9999-12-31", "1999-12-31", "2000-01-01", None],
    ),
    "body": (
        "text",
        pa.string(),
        ["", "é 日本 😀", 'say "hi"', "a,b", "a\tb", "a\nb\r\nc", "back\\slash", "\\N", "NULL", " x ", None],
    ),
    "short": ("varchar(12)", pa.string(), ["", "Zoë", '"', ",", "\t", "\n", "\\", "\\N", None]),
    "fixed": ("char(5)", pa.string(), ["ab", "", "abcde", "é", None]),
    "amount": (
        "numeric",
        pa.float64(),
        [123456789.12345679, -12.5, 0.0, 1e20, 1.2345678901234567e-7, -0.0, None],
    ),
    "price": ("numeric(12, 4)", pa.float64(), [1.23456, -99999999.9999, 0.0, None]),
    "ratio": ("real", pa.float64(), [0.1, 3.4028234663852886e38, -1.5, None]),
    "at": (
        "timestamp",
        pa.string(),
        [
            "2024-02-29 23:59:59.5",
            "0001-01-01 00:00:00",
            "2024-02-29T12:00:00",
            "9999-12-31 23:59:59.999999",
            None,
        ],
    ),
    "atz": (
        "timestamptz",
        pa.string(),
        ["2024-02-29T23:59:59.5+02:00", "2024-01-01 00:00:00Z", "1999-12-31T23:00:00-05:30", None],
    ),
    "clock": ("time", pa.string(), ["23:59:59.999999", "00:00", "12:30:01", None]),
    "positive": ("rapi_positive", pa.float64(), [1.5, 99.999, 0.01, None]),
    "mail": ("rapi_mail", pa.string(), ["a@b", "é@日本", None]),
    "code": ("rapi_code", pa.string(), ["abcd", "", "é", None]),
}
ROWS = 12  # more than any column's list of values: each value occurs at least once
#: How each column should travel: a native binary form, or text cast in the merge's source.
KINDS = {
    "id": "int8",
    "big": "int8",
    "i4": "int4",
    "i2": "int2",
    "flag": "bool",
    "f8": "float8",
    "day": "date",
    "body": "text",
    "short": "text",
    "fixed": "text",
    "amount": "cast",
    "price": "cast",
    "ratio": "cast",
    "at": "cast",
    "atz": "cast",
    "clock": "cast",
    "positive": "cast",  # a domain over numeric(8, 2) with a CHECK: cast to the domain
    "mail": "text",  # a domain over text with a CHECK: its receive function checks it
    "code": "text",  # a domain over varchar(4): binary, where a CAST would cut a longer value
}


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """The session's PostgreSQL database, with the test's domain types."""
    with engine_with_types(
        postgres_url,
        "CREATE DOMAIN rapi_positive AS numeric(8, 2) CHECK (VALUE > 0)",
        "CREATE DOMAIN rapi_mail AS text CHECK (strpos(VALUE, '@') > 0)",
        "CREATE DOMAIN rapi_code AS varchar(4)",
    ) as made:
        yield made


@pytest.fixture
def target(engine: Engine) -> Iterator[Target]:
    """A table with every column of :data:`COLUMNS` (key ``id``), dropped after."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    columns = ", ".join(f"{column} {sql}" for column, (sql, _, _) in COLUMNS.items())
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {name} (id bigint PRIMARY KEY, {columns})")
    yield Target(engine.dialect, name, None, ["id"], list(COLUMNS), ["id", *COLUMNS])
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {name}")


def _schema() -> Any:
    return pa.schema([("id", pa.int64())] + [(name, arrow) for name, (_, arrow, _) in COLUMNS.items()])


def _edge_table() -> Any:
    """Every edge value of every column, and a row of nulls but for its key."""
    data = {"id": pa.array(range(1, ROWS + 2), pa.int64())}
    for name, (_, arrow, values) in COLUMNS.items():
        data[name] = pa.array([*islice(cycle(values), ROWS), None], arrow)
    return pa.table(data)


def _copy(cursor: Any, sql: str, data: bytes) -> None:
    cursor.copy_expert(sql, io.BytesIO(data))


def _load(engine: Engine, target: Target, columns: list[Column], table: Any, way: str) -> list[Any]:
    """The rows of ``table`` loaded as CSV into a stage like the target ("csv"), or as binary into
    the binary stage and read through the merge's source ("binary"), ordered by key.

    Each row as its values, then PostgreSQL's text of the row (the values' own output functions).
    """
    names = target.column_list()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if way == "csv":
            cursor.execute(f"CREATE TEMP TABLE stage AS SELECT {names} FROM {target.name} WITH NO DATA")
            _copy(cursor, f"COPY stage ({names}) FROM STDIN (FORMAT csv)", write_csv(table))
            relation = "stage"
        else:
            cursor.execute(f"CREATE TEMP TABLE stage AS {stage_select(target, columns)} WITH NO DATA")
            _copy(cursor, f"COPY stage ({names}) FROM STDIN (FORMAT binary)", encode(table, columns))
            relation = source(target, columns, "stage")
        cursor.execute(f"SELECT s.*, s::text FROM {relation} s ORDER BY s.id")
        return list(cursor.fetchall())
    finally:
        raw.rollback()
        raw.close()


def _columns(engine: Engine, target: Target) -> list[Column]:
    with engine.connect() as connection:
        columns = pg_columns(connection, target, _schema())
    assert columns is not None, "the target should take the binary path"
    return columns


def _both_ways(engine: Engine, target: Target, columns: list[Column], table: Any) -> tuple[Any, Any]:
    return _load(engine, target, columns, table, "csv"), _load(engine, target, columns, table, "binary")


def test_each_column_travels_in_the_form_its_type_allows(engine: Engine, target: Target) -> None:
    columns = _columns(engine, target)
    assert {c.name: c.kind for c in columns} == KINDS
    types = {c.name: c.type for c in columns if c.kind == "cast"}
    assert (types["price"], types["atz"], types["positive"]) == (
        "numeric(12,4)",
        "timestamp with time zone",
        "rapi_positive",
    )


def test_the_binary_copy_gives_the_rows_the_csv_gave(engine: Engine, target: Target) -> None:
    columns = _columns(engine, target)
    table = _edge_table()
    by_csv, by_binary = _both_ways(engine, target, columns, table)
    assert len(by_csv) == ROWS + 1
    assert by_binary == by_csv
    nulls = by_binary[-1]
    assert nulls[0] == ROWS + 1
    assert set(nulls[1:-1]) == {None}
    # Spot checks that the comparison saw the values themselves.
    row = {name: value for name, value in zip(["id", *COLUMNS], by_binary[1], strict=False)}
    assert (row["big"], row["i4"], row["i2"], row["flag"]) == (2**63 - 1, 2**31 - 1, 2**15 - 1, False)
    assert (str(row["day"]), row["body"], row["fixed"], row["code"]) == (
        "2024-02-29",
        "é 日本 😀",
        "     ",
        "",
    )


def test_a_table_in_several_chunks_and_a_slice_give_the_same_rows(engine: Engine, target: Target) -> None:
    columns = _columns(engine, target)
    whole = _edge_table()
    chunked = pa.concat_tables([whole.slice(0, 5), whole.slice(5)])
    assert chunked.column(0).num_chunks == 2
    for table in (chunked, whole.slice(3, 7)):  # a slice: every array starts at an offset
        by_csv, by_binary = _both_ways(engine, target, columns, table)
        assert by_binary == by_csv
        assert len(by_binary) == table.num_rows


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("fixed", "abcdef"),  # char(5): a CAST would cut it, COPY refuses it
        ("code", "abcde"),  # a domain over varchar(4)
        ("mail", "nobody"),  # the domain's CHECK
        ("positive", -1.0),  # the CHECK of a domain sent as text and cast
        ("price", 1e9),  # over numeric(12, 4)
        ("day", "2024-02-29"),  # not refused: the control
    ],
)
def test_a_value_the_column_refuses_is_refused_either_way(
    engine: Engine, target: Target, column: str, value: Any
) -> None:
    columns = _columns(engine, target)
    table = _edge_table().slice(0, 1)
    table = table.set_column(
        table.schema.get_field_index(column), column, pa.array([value], COLUMNS[column][1])
    )
    outcomes: list[Any] = []
    for way in ("csv", "binary"):
        try:
            outcomes.append(_load(engine, target, columns, table, way))
        except Exception as error:  # psycopg2's error for the SQLSTATE
            outcomes.append(str(getattr(error, "pgcode", error)))
    assert outcomes[0] == outcomes[1]
    if column == "day":
        assert len(outcomes[0]) == 1
    else:
        assert outcomes[0][:2] in ("22", "23"), outcomes[0]


def test_a_rerun_merges_binary_batches_with_text_columns_cast(engine: Engine, monkeypatch: Any) -> None:
    """Through :func:`upsert_records`: the binary form is taken and the counts and rows are right."""
    from reliable_api.idempotency import db_upsert_postgres

    encoded: list[int] = []
    real_encode = db_upsert_postgres.encode

    def counting(table: Any, columns: list[Column]) -> bytes:
        encoded.append(table.num_rows)
        return real_encode(table, columns)

    monkeypatch.setattr(db_upsert_postgres, "encode", counting)
    name = f"t_{uuid.uuid4().hex[:10]}"
    schema = {"id": "integer", "name": "text", "score": "numeric", "active": "boolean", "at": "timestamp"}
    records = [
        {
            "id": i,
            "name": f"n{i}",
            "score": i / 4,
            "active": i % 2 == 0,
            "at": f"2024-01-{i % 28 + 1:02d} 10:00:00",
        }
        for i in range(40)
    ]
    try:
        first = upsert_records(engine, name, records, key=["id"], create=schema, batch_size=10)
        changed = [dict(r, score=r["score"] + 1) if r["id"] % 4 == 0 else r for r in records]
        again = upsert_records(engine, name, changed, key=["id"], batch_size=10)
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT id, score::text, at::text FROM {name} ORDER BY id"
            ).all()
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    assert (first.inserted, again.updated, again.unchanged, again.inserted) == (40, 10, 30, 0)
    assert encoded, "no batch took the binary form"
    assert rows[4][:2] == (4, "2")
    assert rows[5][:2] == (5, "1.25")
    assert rows[5][2].startswith("2024-01-06 10:00:00")  # timestamp or timestamptz (UTC session)
