"""The PostgreSQL fast path's client side: which records the Arrow screen leaves to the careful path."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("pyarrow")

from sqlalchemy import types
from sqlalchemy.dialects import postgresql

from reliable_api.idempotency.db_upsert_arrow import arrow_batch, arrow_schema, dense_key_range, in_key_order
from reliable_api.idempotency.sql_merge import Target

COLUMNS: dict[str, Any] = {
    "id": types.Integer(),
    "code": types.String(4),
    "day": types.Date(),
    "at": types.DateTime(timezone=True),
    "small": types.SmallInteger(),
    "price": types.Numeric(5, 2),
    "ok": types.Boolean(),
}


def _target(columns: dict[str, Any] = COLUMNS, key: list[str] | None = None) -> Target:
    key = key or ["id"]
    values = [name for name in columns if name not in key]
    return Target(postgresql.dialect(), "t", None, key, values, list(columns), columns)


def _lines(records: list[Any]) -> tuple[bytes, int]:
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode(), len(records)


def _good(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "code": "ab",
        "day": "2024-02-29",
        "at": "2024-02-29T23:59:59.5+02:00",
        "small": 7,
        "price": 999.99,
        "ok": True,
    }


def _screen(records: list[Any], target: Target | None = None) -> Any:
    target = target or _target()
    return arrow_batch(target, arrow_schema(target), *_lines(records))


def test_clean_records_all_take_the_fast_path() -> None:
    ready = _screen([_good(i) for i in range(5)] + [{"id": 9}])  # absent fields are nulls: fine
    assert (ready.rows, ready.doubtful) == (6, [])
    assert ready.csv.count(b"\n") == 6


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("day", "N/A"),
        ("day", "2024-02-30"),  # Arrow's strptime alone would roll it over to March
        ("day", "0000-01-01"),
        ("day", "05/01/2024"),  # PostgreSQL may take it, by DateStyle: the database decides
        ("at", "2024-01-01T25:00:00Z"),
        ("at", "yesterday"),
        ("code", "abcde"),  # over varchar(4)
        ("code", "a\u0000b"),  # PostgreSQL text cannot hold NUL
        ("small", 40_000),
        ("price", 1000.0),  # numeric(5, 2) holds less than 1000
    ],
)
def test_a_value_the_column_may_refuse_leaves_only_its_record_to_the_careful_path(
    field: str, value: Any
) -> None:
    records = [_good(i) for i in range(4)]
    records[2][field] = value
    ready = _screen(records)
    assert (ready.rows, ready.doubtful, ready.suspects) == (3, [3], [[field]])


def test_each_doubted_record_names_the_columns_the_screen_doubted() -> None:
    records = [_good(i) for i in range(5)]
    records[0].update(day="N/A", small=40_000)
    records[2]["code"] = "abcde"
    records.append(dict(records[4]))  # repeats line 5: doubted for its key alone
    ready = _screen(records)
    assert ready.doubtful == [1, 3, 5, 6]
    assert ready.suspects == [["day", "small"], ["code"], [], []]


def test_null_empty_and_repeated_keys_are_doubtful_in_every_copy() -> None:
    target = _target({"id": types.Integer(), "region": types.Text(), "name": types.Text()}, ["id", "region"])
    records = [
        {"id": 1, "region": "eu", "name": "a"},
        {"id": 1, "region": "us", "name": "b"},  # another key: fine
        {"id": 2, "region": "eu", "name": "c"},
        {"id": 2, "region": "eu", "name": "d"},  # repeats line 3
        {"id": None, "region": "eu", "name": "e"},
        {"id": 3, "region": "", "name": "f"},
        {"id": 4, "region": None, "name": "g"},
    ]
    ready = _screen(records, target)
    assert (ready.rows, ready.doubtful) == (2, [3, 4, 5, 6, 7])
    assert ready.suspects == [[]] * 5


@pytest.mark.parametrize(
    "record",
    [
        {"id": 1, "nickname": "not a column"},
        {"id": 1, "small": "seven"},  # a string where the column holds numbers
        [1, 2],
    ],
)
def test_what_arrow_cannot_read_sends_the_whole_batch_to_the_careful_path(record: Any) -> None:
    assert _screen([_good(0), record]) is None


def test_a_blank_line_sends_the_whole_batch_to_the_careful_path() -> None:
    target = _target()
    data = json.dumps(_good(1)).encode() + b"\n\n" + json.dumps(_good(2)).encode() + b"\n"
    assert arrow_batch(target, arrow_schema(target), data, 3) is None


def test_a_json_column_has_no_fast_path() -> None:
    assert arrow_schema(_target({"id": types.Integer(), "doc": postgresql.JSONB()})) is None


def test_load_data_csv_numbers_rows_and_flags_nulls() -> None:
    from sqlalchemy.dialects import mysql

    columns: dict[str, Any] = {
        "id": types.BigInteger(),
        "name": types.Text(),
        "ok": mysql.TINYINT(display_width=1),  # MySQL's BOOLEAN, as reflected
    }
    target = Target(mysql.dialect(), "t", None, ["id"], ["name", "ok"], list(columns), columns)
    records = [{"id": 1, "name": "", "ok": True}, {"id": 2, "name": None, "ok": False}, {"id": 2}]
    ready = arrow_batch(target, arrow_schema(target), *_lines(records), output="load_data")
    # Lines 2 and 3 share a key: both are doubted. An empty string is quoted, a null flagged.
    assert (ready.csv, ready.doubtful, ready.repeats) == (b'1,1,0,"",0,1,0\n', [2, 3], True)
    records[2]["id"] = 3
    ready = arrow_batch(target, arrow_schema(target), *_lines(records), output="load_data")
    assert ready.csv.splitlines()[1:] == [b"2,2,0,,1,0,0", b"3,3,0,,1,,1"]


def test_screen_only_gives_the_verdict() -> None:
    target = _target()
    verdict = arrow_batch(target, arrow_schema(target), *_lines([_good(1), _good(2)]), output="none")
    assert (verdict.csv, verdict.rows, verdict.doubtful, verdict.repeats) == (b"", 2, [], False)


def _passed(ids: list[Any], target: Target | None = None) -> Any:
    """The Arrow table of the records the screen passed (what the PostgreSQL loader encodes)."""
    target = target or _target()
    records = [{**_good(0), "id": i} for i in ids]
    return arrow_batch(target, arrow_schema(target), *_lines(records), output="table").table


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([5, 3, 4, 7, 6], (3, 7)),  # any order: the bounds are the keys' own
        ([0, 2, 4, 6, 8], (0, 8)),  # 9 values for 5 rows: within twice
        ([-3, -1], (-3, -1)),
        ([1], (1, 1)),
    ],
)
def test_keys_close_together_give_their_range(ids: list[int], expected: tuple[int, int]) -> None:
    assert dense_key_range(_passed(ids), ["id"]) == expected


@pytest.mark.parametrize("ids", [[0, 1, 2, 10], [0, 2**62], [-(2**63), 2**63 - 1]])
def test_keys_spread_wider_than_twice_their_number_give_none(ids: list[int]) -> None:
    passed = _passed(ids, _target({**COLUMNS, "id": types.BigInteger()}))
    assert passed.num_rows == len(ids)
    assert dense_key_range(passed, ["id"]) is None


def test_only_one_integer_key_column_has_a_range() -> None:
    text_key = _target({"code": types.String(4), "small": types.SmallInteger()}, key=["code"])
    records = [{"code": "a", "small": 1}, {"code": "b", "small": 2}]
    table = arrow_batch(text_key, arrow_schema(text_key), *_lines(records), output="table").table
    assert dense_key_range(table, ["code"]) is None
    two_keys = _target(key=["id", "small"])
    assert dense_key_range(_passed([1, 2], two_keys), ["id", "small"]) is None
    assert dense_key_range(_passed([1, 2]).slice(0, 0), ["id"]) is None  # no rows passed


def test_records_are_put_in_key_order_with_their_values() -> None:
    target = _target()
    records = [{**_good(0), "id": i, "code": f"c{i}", "small": -i} for i in (30, 10, 40, 20)]
    passed = arrow_batch(target, arrow_schema(target), *_lines(records), output="table").table
    ordered = in_key_order(passed, ["id"])
    assert ordered.column_names == passed.column_names
    assert ordered.to_pylist() == sorted(passed.to_pylist(), key=lambda row: row["id"])
    assert [(row["code"], row["small"]) for row in ordered.to_pylist()] == [
        ("c10", -10),
        ("c20", -20),
        ("c30", -30),
        ("c40", -40),
    ]


def test_records_already_in_key_order_or_without_one_integer_key_are_left_as_they_are() -> None:
    ordered = _passed([1, 2, 2 + 10, 40])
    assert in_key_order(ordered, ["id"]) is ordered
    shuffled = _passed([3, 1, 2])
    assert in_key_order(shuffled, ["id", "small"]) is shuffled
    text_key = _target({"code": types.String(4), "small": types.SmallInteger()}, key=["code"])
    records = [{"code": "b", "small": 1}, {"code": "a", "small": 2}]
    table = arrow_batch(text_key, arrow_schema(text_key), *_lines(records), output="table").table
    assert in_key_order(table, ["code"]) is table
