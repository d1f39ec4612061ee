"""The PostgreSQL target read in one catalog query tells the upsert what SQLAlchemy's reflection did.

Every consumer of the column types (the Arrow schema, the screen, the careful path's checks)
asks only ``isinstance`` against a few SQLAlchemy classes and a length, precision, scale or time
zone: :func:`_profile` is that view, compared with reflection's for every type and for domains.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from db_upsert_pg_types import engine_with_types
from sqlalchemy import inspect, text, types
from sqlalchemy.engine import Engine

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.db_upsert import _target, upsert_records
from reliable_api.idempotency.db_upsert_pg_binary import pg_columns
from reliable_api.idempotency.db_upsert_pg_catalog import catalog_target

#: column -> SQL type; every type the upsert treats apart, and others it leaves to the careful path.
TYPES = {
    "i8": "bigint",
    "i4": "integer",
    "i2": "smallint",
    "flag": "boolean",
    "f8": "double precision",
    "f4": "real",
    "amount": "numeric(10, 2)",
    "whole": "numeric(7)",
    "free": "numeric",
    "body": "text",
    "short": "varchar(5)",
    "any_length": "varchar",
    "fixed": "char(3)",
    "day": "date",
    "at": "timestamp",
    "atz": "timestamp(3) with time zone",
    "clock": "time",
    "clocktz": "timetz",
    "mood": "rapi_mood",
    "doc": "jsonb",
    "plain_json": "json",
    "uid": "uuid",
    "tags": "text[]",
    "blob": "bytea",
    "span": "interval",
    "addr": "inet",
}
#: domain column -> (its domain, the base type reflection is compared with)
DOMAINS = {"positive": ("rapi_cat_positive", "numeric(8, 2)"), "code": ("rapi_cat_code", "varchar(4)")}
CLASSES = [
    types.Boolean,
    types.Integer,
    types.BigInteger,
    types.SmallInteger,
    types.Numeric,
    types.Float,
    types.String,
    types.Enum,
    types.Date,
    types.DateTime,
    types.Time,
]


def _profile(kind: Any) -> tuple[Any, ...]:
    """What the upsert reads of a column type."""
    return (
        *(isinstance(kind, cls) for cls in CLASSES),
        getattr(kind, "length", None) if isinstance(kind, types.String) else None,
        getattr(kind, "precision", None) if isinstance(kind, types.Numeric) else None,
        getattr(kind, "scale", None) if isinstance(kind, types.Numeric) else None,
        getattr(kind, "timezone", None) if isinstance(kind, (types.DateTime, types.Time)) else None,
        tuple(kind.enums) if isinstance(kind, types.Enum) else None,
    )


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    with engine_with_types(
        postgres_url,
        "CREATE TYPE rapi_mood AS ENUM ('sad', 'content', 'overjoyed')",
        "CREATE DOMAIN rapi_cat_positive AS numeric(8, 2) CHECK (VALUE > 0)",
        "CREATE DOMAIN rapi_cat_code AS varchar(4)",
    ) as made:
        yield made


@pytest.fixture
def name(engine: Engine) -> Iterator[str]:
    made = f"t_{uuid.uuid4().hex[:10]}"
    yield made
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {made}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS rapi_other.{made}")


def _create(engine: Engine, sql: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(sql)


def _catalog(engine: Engine, name: str, key: list[str]) -> Any:
    with engine.connect() as connection:
        return catalog_target(connection, name, key=key, shown=name)


def test_every_column_type_reads_as_reflection_reads_it(engine: Engine, name: str) -> None:
    columns = ", ".join(f"{column} {sql}" for column, sql in TYPES.items())
    _create(engine, f"CREATE TABLE {name} (id bigint PRIMARY KEY, {columns})")
    found = _catalog(engine, name, ["id"])
    assert found is not None
    ours, _ = found
    reflected = {c["name"]: c["type"] for c in inspect(engine).get_columns(name)}
    assert list(ours) == list(reflected)
    assert {c: _profile(k) for c, k in ours.items()} == {c: _profile(k) for c, k in reflected.items()}
    # The types the careful path keeps for itself stay there.
    assert all(
        _profile(ours[c]) == _profile(types.NullType()) for c in ("doc", "uid", "tags", "blob", "span")
    )


def test_a_domain_reads_as_the_type_under_it(engine: Engine, name: str) -> None:
    columns = ", ".join(
        f"{column} {domain}, {column}_base {base}" for column, (domain, base) in DOMAINS.items()
    )
    _create(engine, f"CREATE TABLE {name} (id bigint PRIMARY KEY, {columns})")
    found = _catalog(engine, name, ["id"])
    assert found is not None
    ours, catalog = found
    reflected = {c["name"]: c["type"] for c in inspect(engine).get_columns(name)}
    for column in DOMAINS:
        assert _profile(ours[column]) == _profile(reflected[f"{column}_base"])
    # The declared type is the domain's: a cast in the merge applies its checks.
    assert {c.name: c.formatted for c in catalog if c.name in DOMAINS} == {
        column: domain for column, (domain, _) in DOMAINS.items()
    }


def test_the_binary_copy_columns_are_those_the_catalog_query_of_the_loader_gave(
    engine: Engine, name: str
) -> None:
    columns = ", ".join(
        f"{column} {sql}" for column, sql in TYPES.items() if column in ("i4", "amount", "short")
    )
    domains = ", ".join(f"{column} {domain}" for column, (domain, _) in DOMAINS.items())
    _create(engine, f"CREATE TABLE {name} (id bigint PRIMARY KEY, {columns}, {domains})")
    target = _target(engine, name, key=["id"], schema=None, create=None, columns=None)
    assert target.catalog is not None
    from reliable_api.idempotency.db_upsert_arrow import arrow_schema

    schema = arrow_schema(target)
    with engine.connect() as connection:
        from_catalog = pg_columns(connection, target, schema)
        target.catalog = None
        queried = pg_columns(connection, target, schema)
    assert from_catalog == queried
    assert from_catalog is not None
    assert {c.name: c.kind for c in from_catalog} == {
        "id": "int8",
        "i4": "int4",
        "amount": "cast",
        "short": "text",
        "positive": "cast",
        "code": "text",
    }


def test_a_table_in_another_schema(engine: Engine, name: str) -> None:
    _create(engine, "CREATE SCHEMA IF NOT EXISTS rapi_other")
    _create(engine, f"CREATE TABLE rapi_other.{name} (id bigint PRIMARY KEY, v text)")
    _create(engine, f"CREATE TABLE {name} (id bigint PRIMARY KEY, w integer, x integer)")
    result = upsert_records(engine, name, [{"id": 1, "v": "a"}], key=["id"], schema="rapi_other")
    assert result.inserted == 1
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT v FROM rapi_other.{name}")).scalar_one() == "a"


def test_a_missing_table_is_refused_or_created(engine: Engine, name: str) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        upsert_records(engine, name, [{"id": 1}], key=["id"])
    with pytest.raises(ConfigurationError, match="does not exist"):
        upsert_records(engine, name, [{"id": 1}], key=["id"], schema="rapi_no_such_schema")
    result = upsert_records(
        engine, name, [{"id": 1, "v": "a"}], key=["id"], create={"id": "bigint", "v": "text"}
    )
    assert result.inserted == 1
    # Created once; a declaration that lacks the key is refused even when the table exists.
    with pytest.raises(ConfigurationError, match="not in the declared schema"):
        upsert_records(engine, name, [{"id": 1}], key=["id"], create={"v": "text"})
    with pytest.raises(ConfigurationError, match="unknown column type"):
        upsert_records(engine, name, [{"id": 1}], key=["id"], create={"id": "bigint", "v": "blob"})


def _table(engine: Engine, name: str, ddl: str) -> None:
    """``CREATE TABLE name (columns)``, then an index statement after a ``;`` (``{name}`` filled in)."""
    columns, _, index = ddl.partition(";")
    _create(engine, f"CREATE TABLE {name} ({columns})")
    if index:
        _create(engine, index.format(name=name))


@pytest.mark.parametrize(
    ("ddl", "key"),
    [
        ("id bigint PRIMARY KEY, a int, b int", ["id"]),
        ("id bigint, a int, b int, UNIQUE (a, b)", ["b", "a"]),
        ("id bigint, a int, b int, UNIQUE (a) INCLUDE (b)", ["a"]),
        ("id bigint, a int, b int; CREATE UNIQUE INDEX ON {name} (b)", ["b"]),
    ],
)
def test_a_key_with_a_unique_constraint_or_index_is_taken(
    engine: Engine, name: str, ddl: str, key: list[str]
) -> None:
    _table(engine, name, ddl)
    assert _catalog(engine, name, key) is not None


@pytest.mark.parametrize(
    "ddl",
    [
        "id bigint, a int",
        "id bigint, a int, UNIQUE (id, a)",
        "id bigint, a int, UNIQUE (a) INCLUDE (id)",
        "id bigint, a int; CREATE UNIQUE INDEX ON {name} (id) WHERE a > 0",
        "id bigint, a int; CREATE UNIQUE INDEX ON {name} ((id + 0))",
        "id bigint, a int; CREATE INDEX ON {name} (id)",
    ],
)
def test_a_key_without_a_whole_unique_constraint_is_refused(engine: Engine, name: str, ddl: str) -> None:
    _table(engine, name, ddl)
    with pytest.raises(ConfigurationError, match="no primary key or unique constraint on the key columns"):
        upsert_records(engine, name, [{"id": 1, "a": 1}], key=["id"])
