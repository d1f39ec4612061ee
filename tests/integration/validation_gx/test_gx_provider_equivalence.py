"""The fast evaluation rejects exactly the rows GX's COMPLETE result with index columns names."""

from __future__ import annotations

from gx_cases import Spec, expect, rejected_keys_the_provider_way, sandbox_contacts

from reliable_api.testing.sandbox.data import FIRST_NAMES
from reliable_api.validation.expectations import evaluate


def suite() -> list[Spec]:
    from great_expectations.expectations.row_conditions import Column

    return [
        # per value, on distinct values
        expect("ExpectColumnValuesToNotBeNull", column="phone"),
        expect("ExpectColumnValuesToMatchRegex", column="phone", regex=r"^\+[1-9]\d{6,14}$"),
        expect("ExpectColumnValuesToNotBeNull", column="birthday"),
        expect("ExpectColumnValuesToMatchStrftimeFormat", column="birthday", strftime_format="%Y-%m-%d"),
        expect("ExpectColumnValuesToBeInSet", column="first_name", value_set=list(FIRST_NAMES[:25])),
        expect("ExpectColumnValueLengthsToBeBetween", column="last_name", min_value=3),
        expect("ExpectColumnValuesToNotMatchRegex", column="external_id", regex="7$", mostly=0.5),
        # on full rows: not per value, or the column is there anyway
        expect("ExpectColumnValuesToBeUnique", column="email"),
        expect("ExpectColumnValuesToMatchRegex", column="email", regex=r"^[a-z0-9._%+-]+@[a-z0-9.-]+$"),
        expect("ExpectCompoundColumnsToBeUnique", column_list=["id", "company_id"]),
        expect("ExpectColumnPairValuesToBeEqual", column_A="id", column_B="id"),
        expect("ExpectColumnValuesToBeNull", column="phone", row_condition=Column("last_name").is_null()),
        # table level, holding
        expect("ExpectTableRowCountToBeBetween", min_value=1),
        expect("ExpectTableColumnCountToEqual", value=8),
    ]


def test_gx_rejects_the_same_keys_as_gx_complete_with_index_column_names() -> None:
    rows, specs = sandbox_contacts(3000), suite()

    result = evaluate(rows, specs, ["id"])

    ours = {failure.key for failure in result.rejected}
    assert ours == rejected_keys_the_provider_way(rows, specs, "id")
    assert 0.2 < len(ours) / len(rows) < 0.9
    assert all(item.success is not None for item in result.summary)
