"""NaN, numpy and pandas values go in; plain, JSON-serialisable Python comes out."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pytest
from gx_cases import expect

from reliable_api.validation.expectations import BatchValidationFailed, evaluate
from reliable_api.validation.gx_plain import describe, to_plain


def test_gx_numpy_and_nan_values_give_a_json_serialisable_result() -> None:
    import numpy as np

    rows = [
        {"id": np.int64(1), "score": np.float64(0.5), "flag": np.bool_(True), "name": np.str_("ann")},
        {"id": np.int64(2), "score": float("nan"), "flag": np.bool_(False), "name": "bob"},
        {"id": np.int64(3), "score": np.float64(7.25), "flag": None, "name": None},
    ]
    specs = [
        expect("ExpectColumnValuesToBeBetween", column="score", max_value=1.0),
        expect("ExpectColumnValuesToNotBeNull", column="flag"),
        expect("ExpectColumnValuesToNotBeNull", column="name"),
        expect("ExpectColumnMaxToBeBetween", column="score", max_value=np.float64(10.0)),
    ]

    result = evaluate(rows, specs, ["id"])

    assert [(failure.key, len(failure.failed)) for failure in result.rejected] == [("3", 3)]
    text = json.dumps(result.summary_dict(), allow_nan=False)
    summary = json.loads(text)["expectations"]
    assert summary[0]["examples"] == [7.25]
    assert summary[3]["observed_value"] == 7.25
    assert type(result.summary[3].observed_value) is float
    assert json.dumps([failure.failed for failure in result.rejected])


def test_gx_a_table_failure_carries_a_json_serialisable_summary() -> None:
    import numpy as np

    rows = [{"id": 1, "score": np.float64("nan")}, {"id": 2, "score": np.float64(3.0)}]

    with pytest.raises(BatchValidationFailed) as raised:
        evaluate(rows, [expect("ExpectColumnMeanToBeBetween", column="score", min_value=5)], ["id"])

    assert json.loads(json.dumps(raised.value.summary, allow_nan=False))[0]["observed_value"] == 3.0


def test_gx_to_plain_converts_what_pandas_and_numpy_return() -> None:
    import numpy as np
    import pandas as pd

    values = {
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "na": pd.NA,
        "nat": pd.NaT,
        "int": np.int32(4),
        "array": np.array([1, 2]),
        "timestamp": pd.Timestamp("2024-05-01T12:00:00"),
        "date": dt.date(2024, 5, 1),
        "decimal": Decimal("1.50"),
        "nested": {"k": (np.float32(0.5), None)},
        "object": object,
    }

    plain = to_plain(values)

    assert plain == {
        "nan": None,
        "inf": None,
        "na": None,
        "nat": None,
        "int": 4,
        "array": [1, 2],
        "timestamp": "2024-05-01T12:00:00",
        "date": "2024-05-01",
        "decimal": "1.50",
        "nested": {"k": [0.5, None]},
        "object": "<class 'object'>",
    }
    assert not any(isinstance(v, float) and math.isnan(v) for v in plain.values())


def test_gx_descriptions_shorten_long_kwargs() -> None:
    name = describe("ExpectColumnValuesToBeInSet", {"column": "c", "value_set": list(range(100))})

    assert name.startswith("ExpectColumnValuesToBeInSet(column='c', value_set=[0, 1, 2")
    assert name.endswith("…)")
    assert len(name) < 100
