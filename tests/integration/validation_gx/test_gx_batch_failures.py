"""Batch-level outcomes: table-level failures, empty batches, missing columns, bad expectations."""

from __future__ import annotations

import pickle

import pytest
from gx_cases import expect

from reliable_api.exceptions import ConfigurationError, PermanentError
from reliable_api.validation.expectations import BatchValidationFailed, evaluate

ROWS = [{"id": f"r{i}", "age": 20 + i, "email": f"p{i}@example.com"} for i in range(5)]
NOT_NULL = expect("ExpectColumnValuesToNotBeNull", column="email")


def test_gx_a_failing_row_count_fails_the_batch_naming_it_and_what_was_observed() -> None:
    too_many = expect("ExpectTableRowCountToBeBetween", max_value=2)

    with pytest.raises(BatchValidationFailed) as raised:
        evaluate(ROWS, [NOT_NULL, too_many], ["id"])

    error = raised.value
    assert isinstance(error, PermanentError)
    assert "ExpectTableRowCountToBeBetween(max_value=2) observed 5" in str(error)
    assert [(item["type"], item["success"]) for item in error.summary] == [
        ("ExpectColumnValuesToNotBeNull", True),
        ("ExpectTableRowCountToBeBetween", False),
    ]
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.summary, str(copy)) == (BatchValidationFailed, error.summary, str(error))


@pytest.mark.parametrize(
    ("spec", "observed"),
    [
        (expect("ExpectColumnMeanToBeBetween", column="age", max_value=10), "observed 22.0"),
        (expect("ExpectTableColumnsToMatchSet", column_set=["id", "age"], exact_match=True), "'email'"),
        (expect("ExpectColumnToExist", column="phone"), "ExpectColumnToExist(column='phone')"),
    ],
)
def test_gx_other_table_level_failures_fail_the_batch(spec: object, observed: str) -> None:
    with pytest.raises(BatchValidationFailed, match="table-level") as raised:
        evaluate(ROWS, [spec], ["id"])  # type: ignore[list-item]

    assert observed in str(raised.value)


def test_gx_table_level_expectations_that_hold_pass() -> None:
    specs = [
        expect("ExpectTableColumnsToMatchOrderedList", column_list=["id", "age", "email"]),
        expect("ExpectColumnTypeToBe", column="age", type_="int64"),
        expect("ExpectColumnDistinctValuesToBeInSet", column="age", value_set=list(range(20, 25))),
        expect("ExpectTableRowCountToEqual", value=5),
    ]

    result = evaluate(ROWS, specs, ["id"])

    assert [(item.level, item.success) for item in result.summary] == [("table", True)] * 4
    assert result.rejected == ()


def test_gx_an_empty_batch_rejects_nothing_and_still_checks_the_row_count() -> None:
    result = evaluate([], [NOT_NULL, expect("ExpectTableRowCountToBeBetween", min_value=0)], ["id"])

    assert (result.total, result.rejected) == (0, ())
    assert [(item.success, item.evaluated) for item in result.summary] == [(None, 0), (True, 0)]
    with pytest.raises(BatchValidationFailed, match=r"min_value=1\) observed 0"):
        evaluate([], [NOT_NULL, expect("ExpectTableRowCountToBeBetween", min_value=1)], ["id"])


def test_gx_a_column_absent_from_every_row_fails_the_batch_clearly() -> None:
    phone = expect("ExpectColumnValuesToMatchRegex", column="phone", regex=r"^\+")

    with pytest.raises(
        BatchValidationFailed, match=r"column\(s\) \['phone'\] that ExpectColumnValuesToMatchRegex"
    ):
        evaluate(ROWS, [NOT_NULL, phone], ["id"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            expect("ExpectColumnValuesToBeAwesome", column="email"),
            "unknown .* 'ExpectColumnValuesToBeAwesome'",
        ),
        (expect("expect_column_values_to_not_be_null", column="email"), "unknown"),
        (expect("Expectation"), "unknown"),
        (
            expect("ExpectColumnValuesToMatchRegex", regex="^a"),
            r"#1 ExpectColumnValuesToMatchRegex.* invalid",
        ),
        (expect("ExpectColumnValuesToNotBeNull", column="email", colour="red"), "invalid"),
    ],
)
def test_gx_an_expectation_gx_does_not_know_or_refuses_is_a_configuration_error(
    spec: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        evaluate(ROWS, [spec], ["id"])  # type: ignore[list-item]


def test_gx_an_expectation_gx_cannot_evaluate_on_the_data_is_a_configuration_error() -> None:
    numbers_on_text = expect("ExpectColumnValuesToBeBetween", column="email", min_value=10)

    with pytest.raises(ConfigurationError, match="could not be evaluated on this batch: Column values"):
        evaluate(ROWS, [numbers_on_text], ["id"])


def test_gx_no_key_field_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="natural key"):
        evaluate(ROWS, [NOT_NULL], [])
