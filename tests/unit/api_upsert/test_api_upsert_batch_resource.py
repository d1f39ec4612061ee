"""``ApiResource``'s batch create settings are checked when the spec is built."""

from __future__ import annotations

from typing import Any

import pytest

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.api_upsert import ApiResource

BASE: dict[str, Any] = {
    "natural_key": ("email",),
    "create_path": "/v1/contacts",
    "update_path": "/v1/contacts/{id}",
    "batch_create_path": "/v1/contacts/batch",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"batch_create_path": "/v1/{kind}/batch"},
            "batch_create_path='/v1/{kind}/batch' must have no placeholders",
        ),
        (
            {"batch_create_path": "/v1/contacts/{"},
            "batch_create_path='/v1/contacts/{' is not a valid path template",
        ),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": -5}, "batch_size must be a positive integer, got -5"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer, got 2.5"),
        ({"batch_size": "100"}, "batch_size must be a positive integer, got '100'"),
        ({"batch_status_field": ""}, "batch_status_field must be a non-empty field name"),
        ({"batch_status_field": None}, "batch_status_field must be a non-empty field name, got None"),
        ({"batch_id_field": " "}, "batch_id_field must be a non-empty field name"),
        ({"batch_records_field": ""}, "batch_records_field must be a non-empty field name"),
        ({"batch_results_path": 3}, "batch_results_path must be a non-empty field name, got 3"),
        ({"batch_index_field": ""}, "batch_index_field must be a non-empty field name"),
    ],
)
def test_a_wrong_batch_setting_is_a_configuration_error(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ApiResource(**{**BASE, **changes})
    assert message in str(raised.value)


def test_the_defaults_read_a_207_multi_status_answer() -> None:
    spec = ApiResource(**BASE)
    assert (spec.batch_size, spec.batch_records_field, spec.batch_results_path) == (100, "records", "results")
    assert (spec.batch_index_field, spec.batch_status_field, spec.batch_id_field) == ("index", "status", "id")


def test_a_bare_list_request_and_answer_in_order_are_allowed() -> None:
    spec = ApiResource(**BASE, batch_records_field=None, batch_results_path=None, batch_index_field=None)
    assert (spec.batch_records_field, spec.batch_results_path, spec.batch_index_field) == (None, None, None)


def test_batch_settings_without_a_batch_path_are_still_checked() -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        ApiResource(**{**BASE, "batch_create_path": None, "batch_size": 0})
