"""Batches that go straight into the table while every record is new, and what stops them.

A first load or an append inserts the screened records without a stage (COPY on PostgreSQL,
an INSERT from ``json_each`` on SQLite, ``LOAD DATA LOCAL`` on MariaDB); the table's unique key
stops that at the first existing row, and nothing of the batch may stay behind before it is
staged and merged (ADR 0028, ADR 0035).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import upsert_records

SCHEMA = {"id": "integer", "name": "text", "score": "numeric", "active": "boolean"}


def _rows(ids: range, name: str = "n{}") -> list[dict[str, Any]]:
    return [{"id": i, "name": name.format(i), "score": i / 2, "active": i % 2 == 0} for i in ids]


def _table(engine: Engine, table: str) -> dict[int, str]:
    with engine.connect() as connection:
        return {int(i): name for i, name in connection.exec_driver_sql(f"SELECT id, name FROM {table}").all()}


def test_an_append_meets_existing_keys_and_leaves_nothing_of_the_straight_load(
    engine: Engine, table: str
) -> None:
    upsert_records(engine, table, _rows(range(100, 110)), key=["id"], create=SCHEMA)
    # Batches of 10: two of new keys (the second goes straight in), then one that mixes new keys
    # with existing ones, unchanged and renamed: MariaDB's LOAD DATA would skip the existing
    # rows and keep the new ones, so only a rollback keeps the counts exact.
    third = _rows(range(20, 25)) + _rows(range(100, 105)) + _rows(range(105, 110), name="renamed {}")
    result = upsert_records(engine, table, _rows(range(20)) + third, key=["id"], batch_size=10)
    assert result.counts() == {"inserted": 25, "updated": 5, "unchanged": 5, "duplicates": 0, "rejected": 0}
    names = _table(engine, table)
    assert sorted(names) == [*range(25), *range(100, 110)]
    assert [names[i] for i in range(103, 108)] == [
        "n103",
        "n104",
        "renamed 105",
        "renamed 106",
        "renamed 107",
    ]


def test_nulls_compare_equal_on_a_rerun_and_a_value_made_null_is_an_update(
    engine: Engine, table: str
) -> None:
    records = [
        {"id": i, "name": None if i % 3 else f"n{i}", "score": None, "active": None} for i in range(30)
    ]
    first = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    again = upsert_records(engine, table, records, key=["id"])
    records[0] = {**records[0], "name": None}
    records.append({"id": 30, "name": None, "score": None, "active": None})  # new, as null as can be
    changed = upsert_records(engine, table, records, key=["id"])
    assert (first.inserted, again.unchanged, again.inserted + again.updated) == (30, 30, 0)
    assert (changed.updated, changed.unchanged, changed.inserted) == (1, 29, 1)
    assert _table(engine, table)[0] is None


def test_keys_the_table_takes_for_one_are_one_key(engine: Engine, table: str) -> None:
    # MySQL's default collation ignores case: to the table "ABC" and "abc" are one key, to
    # Arrow's screen two. The later record wins and the earlier, with other values, is refused,
    # whether the batch goes straight in (first load) or is merged (re-run).
    records = [{"id": "ABC", "name": "first"}, {"id": "abc", "name": "second"}]
    schema = {"id": "text", "name": "text"}
    first = upsert_records(engine, table, records, key=["id"], create=schema)
    again = upsert_records(engine, table, records, key=["id"])
    with engine.connect() as connection:
        rows = sorted(connection.exec_driver_sql(f"SELECT id, name FROM {table}").all())
    if engine.dialect.name != "mysql":  # binary comparison: two keys
        assert (first.inserted, again.unchanged, len(rows)) == (2, 2, 2)
        return
    assert (first.inserted, [r.error.reason for r in first.rejected]) == (1, ["duplicate_key"])
    assert (again.unchanged, again.inserted + again.updated, len(again.rejected)) == (1, 0, 1)
    assert [name for _, name in rows] == ["second"]
