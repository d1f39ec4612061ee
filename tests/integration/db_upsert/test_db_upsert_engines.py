from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.db_upsert import upsert_records

SCHEMA = {"id": "integer", "name": "text", "score": "numeric", "active": "boolean", "meta": "json"}

_WRITE_TRIGGERS = {
    "postgresql": [
        "CREATE TABLE writes (n integer)",
        "INSERT INTO writes VALUES (0)",
        "CREATE FUNCTION count_write() RETURNS trigger AS $$ BEGIN UPDATE writes SET n = n + 1; "
        "RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER counted AFTER INSERT OR UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION count_write()",
    ],
    # Unchanged rows never reach MySQL's ON DUPLICATE KEY UPDATE (left out of the stage before),
    # so its update trigger, which fires for every matched row, counts real writes here too.
    "mysql": [
        "CREATE TABLE writes (n integer)",
        "INSERT INTO writes VALUES (0)",
        "CREATE TRIGGER counted_i_{table} AFTER INSERT ON {table} FOR EACH ROW UPDATE writes SET n = n + 1",
        "CREATE TRIGGER counted_u_{table} AFTER UPDATE ON {table} FOR EACH ROW UPDATE writes SET n = n + 1",
    ],
    "sqlite": [
        "CREATE TABLE writes (n integer)",
        "INSERT INTO writes VALUES (0)",
        "CREATE TRIGGER counted_i AFTER INSERT ON {table} BEGIN UPDATE writes SET n = n + 1; END",
        "CREATE TRIGGER counted_u AFTER UPDATE ON {table} BEGIN UPDATE writes SET n = n + 1; END",
    ],
}


def _records(n: int, *, suffix: str = "") -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"naïve {i}{suffix}", "score": i / 4, "active": i % 2 == 0, "meta": {"k": [i]}}
        for i in range(n)
    ]


def _counts(engine: Engine, table: str, records: list[dict[str, Any]], **kwargs: Any) -> dict[str, int]:
    return upsert_records(engine, table, records, key=["id"], create=SCHEMA, **kwargs).counts()


def _writes(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT n FROM writes").scalar_one())


def test_insert_update_unchanged_and_zero_writes_on_rerun(engine: Engine, table: str) -> None:
    options: dict[str, Any] = {}
    assert _counts(engine, table, _records(500), batch_size=128, **options) == {
        "inserted": 500, "updated": 0, "unchanged": 0, "duplicates": 0, "rejected": 0,
    }  # fmt: skip
    with engine.begin() as connection:
        for statement in _WRITE_TRIGGERS[engine.dialect.name]:
            connection.exec_driver_sql(statement.format(table=table))
    assert _counts(engine, table, _records(500), batch_size=128, **options)["unchanged"] == 500
    assert _writes(engine) == 0
    changed = _records(500)[:450] + _records(600, suffix="!")[450:]
    assert _counts(engine, table, changed, **options) == {
        "inserted": 100, "updated": 50, "unchanged": 450, "duplicates": 0, "rejected": 0,
    }  # fmt: skip
    assert _writes(engine) == 150
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
        name = connection.execute(text(f"SELECT name FROM {table} WHERE id = 470")).scalar_one()
    assert (rows, name) == (600, "naïve 470!")


def test_duplicates_in_a_batch_last_wins_and_conflicting_ones_are_rejected(
    engine: Engine, table: str
) -> None:
    records = [
        {"id": 1, "name": "first"},
        {"id": 2, "name": "b"},
        {"id": 1, "name": "last"},
        {"id": 2, "name": "b"},
    ]
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    assert (result.inserted, result.duplicates) == (2, 1)  # the identical copy of 2 is only counted
    (rejection,) = result.rejected
    assert (rejection.record, rejection.error.reason, rejection.error.record_key) == (
        records[0],
        "duplicate_key",
        "1",
    )
    assert "line 3" in str(rejection.error)
    with engine.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT name FROM {table} WHERE id = 1").scalar_one() == "last"


def test_nulls_unicode_and_escapes_round_trip(engine: Engine, table: str) -> None:
    tricky = "tab\there\nnew\\line ✓ 日本"
    records = [{"id": 1, "name": None, "score": None, "meta": None}, {"id": 2, "name": tricky}]
    assert _counts(engine, table, records)["inserted"] == 2
    assert _counts(engine, table, records)["unchanged"] == 2
    with engine.connect() as connection:
        names = connection.exec_driver_sql(f"SELECT name FROM {table} ORDER BY id").scalars().all()
    assert names == [None, tricky]


def test_rejected_records_are_returned_with_reasons(engine: Engine, table: str) -> None:
    records: list[Any] = [{"name": "no key"}, {"id": 2, "score": float("nan")}, "not a dict", {"id": 3}]
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    assert result.inserted == 1
    reasons = {r.error.reason: r for r in result.rejected}
    assert sorted(reasons) == ["missing_key", "not_a_record", "not_json_serialisable"]
    assert reasons["not_json_serialisable"].error.record_key == "2"
    assert reasons["not_a_record"].record == "not a dict"


def test_composite_key(engine: Engine, table: str) -> None:
    schema = {"tenant": "text", "id": "integer", "value": "text"}
    records = [{"tenant": t, "id": i, "value": f"{t}{i}"} for t in ("a", "b") for i in range(3)]
    first = upsert_records(engine, table, records, key=["tenant", "id"], create=schema)
    records[0]["value"] = "changed"
    second = upsert_records(engine, table, records, key=["tenant", "id"])
    assert (first.inserted, second.updated, second.unchanged) == (6, 1, 5)


def test_key_without_unique_constraint_is_refused(engine: Engine, table: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {table} (id integer, name text)")
    with pytest.raises(ConfigurationError, match=rf"{table}.*no primary key or unique constraint.*\['id'\]"):
        upsert_records(engine, table, [{"id": 1}], key=["id"])


def test_missing_table_is_a_clear_error(engine: Engine, table: str) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        upsert_records(engine, table, [{"id": 1}], key=["id"])


def test_key_only_table(engine: Engine, table: str) -> None:
    upsert_records(engine, table, [{"id": 1}], key=["id"], create={"id": "integer"})
    result = upsert_records(engine, table, [{"id": 1}, {"id": 2}], key=["id"])
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 1)


def test_columns_left_out_keep_their_defaults(engine: Engine, table: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} "
            "(id integer PRIMARY KEY, name varchar(20), origin varchar(20) DEFAULT 'crm')"
        )
    records = [{"id": 1, "name": "a", "origin": "ignored"}]
    assert upsert_records(engine, table, records, key=["id"], columns=["name"]).inserted == 1
    with engine.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT origin FROM {table}").scalar_one() == "crm"
    with pytest.raises(ConfigurationError, match=r"no columns \['nope'\]"):
        upsert_records(engine, table, records, key=["id"], columns=["nope"])


def test_dates_and_timestamps_from_a_declared_schema(engine: Engine, table: str) -> None:
    schema = {"id": "integer", "day": "date", "at": "timestamp", "big": "bigint"}
    records = [{"id": 1, "day": "2024-02-29", "at": "2024-02-29 12:30:00", "big": 2**40}]
    assert upsert_records(engine, table, records, key=["id"], create=schema).inserted == 1
    assert upsert_records(engine, table, records, key=["id"]).unchanged == 1
