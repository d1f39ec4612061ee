"""Row-level expectations: each failing row is reported with its key and what it failed."""

from __future__ import annotations

import pytest
from gx_cases import expect

from reliable_api.validation.expectations import GxValidationResult, evaluate

NOT_NULL = expect("ExpectColumnValuesToNotBeNull", column="email")
LOWERCASE = expect("ExpectColumnValuesToMatchRegex", column="email", regex=r"^[a-z]+@example\.com$")
UNIQUE = expect("ExpectColumnValuesToBeUnique", column="email")
STATUS = expect("ExpectColumnValuesToBeInSet", column="status", value_set=["active", "churned"])
ADULT = expect("ExpectColumnValuesToBeBetween", column="age", min_value=18, max_value=120)
ROW_COUNT = expect("ExpectTableRowCountToBeBetween", min_value=1, max_value=10)
SUITE = [NOT_NULL, LOWERCASE, UNIQUE, STATUS, ADULT, ROW_COUNT]

ROWS = [
    {"id": "a1", "email": "ann@example.com", "status": "active", "age": 30},
    {"id": "a2", "email": "BOB@example.com", "status": "active", "age": 17},
    {"id": "a3", "email": None, "status": "gone", "age": 40},
    {"id": "a4", "email": "ann@example.com", "status": "active", "age": 50},
    {"id": "a5", "email": "eve@example.com", "status": "churned", "age": None},
]

NAMES = {
    "not_null": "ExpectColumnValuesToNotBeNull(column='email')",
    "lowercase": r"ExpectColumnValuesToMatchRegex(column='email', regex='^[a-z]+@example\\.com$')",
    "unique": "ExpectColumnValuesToBeUnique(column='email')",
    "status": "ExpectColumnValuesToBeInSet(column='status', value_set=['active', 'churned'])",
    "adult": "ExpectColumnValuesToBeBetween(column='age', min_value=18, max_value=120)",
}


@pytest.fixture(scope="module")
def result() -> GxValidationResult:
    return evaluate(ROWS, SUITE, ["id"])


def test_gx_each_failing_row_has_its_key_and_the_expectations_it_failed(result: GxValidationResult) -> None:
    failures = {failure.key: failure.failed for failure in result.rejected}

    assert failures == {
        "a1": (NAMES["unique"],),
        "a2": (NAMES["lowercase"], NAMES["adult"]),
        "a3": (NAMES["not_null"], NAMES["status"]),
        "a4": (NAMES["unique"],),
    }
    assert [failure.index for failure in result.rejected] == [0, 1, 2, 3]


def test_gx_split_gives_good_rows_and_rejected_rows_with_reasons(result: GxValidationResult) -> None:
    good, rejected = result.split(ROWS)

    assert good == [ROWS[4]]
    assert [(row["id"], failure.key) for row, failure in rejected] == [(f"a{i}",) * 2 for i in range(1, 5)]
    assert (result.total, result.good) == (5, 1)
    with pytest.raises(ValueError, match="needs the 5 rows"):
        result.split(ROWS[:4])


def test_gx_summary_counts_rows_and_keeps_examples_like_data_docs(result: GxValidationResult) -> None:
    summary = {item.expectation: item for item in result.summary}

    lowercase = summary[NAMES["lowercase"]]
    assert (lowercase.level, lowercase.success, lowercase.evaluated, lowercase.failed) == ("row", False, 4, 1)
    assert lowercase.examples == ["BOB@example.com"]
    not_null = summary[NAMES["not_null"]]
    assert (not_null.evaluated, not_null.failed, not_null.examples) == (5, 1, [None])
    assert summary[NAMES["unique"]].failed == 2
    adult = summary[NAMES["adult"]]
    assert (adult.evaluated, adult.failed, adult.examples) == (4, 1, [17])
    row_count = summary["ExpectTableRowCountToBeBetween(min_value=1, max_value=10)"]
    assert (row_count.level, row_count.success, row_count.observed_value) == ("table", True, 5)
    assert [item.type for item in result.summary] == [spec.type for spec in SUITE]


def test_gx_mostly_decides_success_but_failing_rows_are_still_rejected() -> None:
    lenient = expect("ExpectColumnValuesToMatchRegex", column="email", regex=r"^[a-z]+@", mostly=0.7)

    result = evaluate(ROWS, [lenient], ["id"])

    assert [failure.key for failure in result.rejected] == ["a2"]
    assert result.summary[0].success is True
    assert (result.summary[0].evaluated, result.summary[0].failed) == (4, 1)


def test_gx_composite_keys_and_rows_without_a_key() -> None:
    rows = [{"id": "a1", "region": "eu", "n": 1}, {"id": None, "region": "eu", "n": 2}, {"id": "a3", "n": 3}]
    small = expect("ExpectColumnValuesToBeBetween", column="n", max_value=0)

    result = evaluate(rows, [small], ["id", "region"])

    assert [failure.key for failure in result.rejected] == ["a1\x1feu", None, None]


def test_gx_a_field_absent_from_some_rows_counts_as_null() -> None:
    rows = [{"id": "a1", "email": "ann@example.com"}, {"id": "a2"}]

    result = evaluate(rows, [NOT_NULL], ["id"])

    assert [(failure.key, failure.failed) for failure in result.rejected] == [("a2", (NAMES["not_null"],))]


def test_gx_an_expectation_may_carry_its_own_meta_and_appear_twice() -> None:
    noted = expect("ExpectColumnValuesToBeInSet", column="status", value_set=["active"], meta={"by": "crm"})

    result = evaluate(ROWS, [noted, noted], ["id"])

    name = "ExpectColumnValuesToBeInSet(column='status', value_set=['active'])"
    assert [(failure.key, failure.failed) for failure in result.rejected] == [
        ("a3", (name, name)),
        ("a5", (name, name)),
    ]
