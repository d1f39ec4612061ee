"""``ApiResource`` under any settings a DAG author can write, and the answers it reads under any body.

A resource is built or refused with a :class:`ConfigurationError`; a built one never lets a remote
id change the shape of its update path. The readers of an API's answers (error details, remote
ids) give a value or a :class:`ConfigurationError` whatever the body holds.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ConfigurationError
from reliable_api.http.classify import api_error_details
from reliable_api.idempotency.api_calls import remote_id
from reliable_api.idempotency.api_resource import ApiResource
from tests.fuzz.fuzz_settings import fuzz

ANY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.binary(max_size=4)
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
TEMPLATES = st.one_of(
    st.sampled_from(
        ["/v1/things", "/v1/things/{id}", "/v1/{id}/{id}", "/v1/{0}", "/v1/{id!r}", "{", "}", "/v1/{id:>10}"]
    ),
    st.text(alphabet="/{}abc!:0", max_size=12),
    ANY,
)
SETTINGS = st.fixed_dictionaries(
    {"natural_key": st.one_of(st.lists(st.text(max_size=4), max_size=2).map(tuple), ANY)},
    optional={
        "create_path": TEMPLATES,
        "update_path": TEMPLATES,
        "lookup_path": TEMPLATES,
        "batch_create_path": TEMPLATES,
        "lookup_params": st.one_of(
            st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2), ANY
        ),
        "supports_idempotency_keys": st.booleans(),
        "allow_unsafe": st.booleans(),
        "batch_size": ANY,
        "batch_records_field": ANY,
        "batch_results_path": ANY,
        "batch_index_field": ANY,
        "batch_status_field": ANY,
        "batch_id_field": ANY,
    },
)


@fuzz
@given(SETTINGS, st.text())
def test_a_resource_is_built_or_refused_and_ids_never_reshape_its_paths(
    settings: dict[str, Any], remote: str
) -> None:
    arguments = {"create_path": "/v1/things", "update_path": "/v1/things/{id}", **settings}
    try:
        resource = ApiResource(**arguments)
    except ConfigurationError:
        return  # refused, as it should be: the error type is the contract
    prefix, _, suffix = resource.update_path.partition("{id}")
    endpoint = resource.update_endpoint(remote)
    assert endpoint.startswith(prefix)
    assert endpoint.endswith(suffix)
    assert not {"/", "?", "#"} & set(endpoint[len(prefix) : len(endpoint) - len(suffix)])


@fuzz
@given(st.one_of(JSON.map(lambda body: json.dumps(body).encode()), st.binary(max_size=40), st.none()))
def test_error_bodies_of_any_shape_give_details_or_nothing(body: bytes | None) -> None:
    details = api_error_details(body)
    for value in (details.type, details.message, details.existing_id):
        assert value is None or isinstance(value, str)


@fuzz
@given(JSON, st.sampled_from(["id", "data.id", "result.0.id", ""]))
def test_a_remote_id_is_text_or_a_configuration_error(body: Any, path: str) -> None:
    try:
        found: str | ConfigurationError = remote_id(body, path, "create answer")
    except ConfigurationError as error:
        found = error
    if isinstance(found, ConfigurationError):
        assert "id_field" in str(found)
    else:
        assert isinstance(found, str)
        assert found
