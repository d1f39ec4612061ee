from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.core.keys import canonical_json, content_hash, idempotency_key, natural_key
from reliable_api.exceptions import RecordRejected

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_hash_ignores_field_order(record: dict[str, object]) -> None:
    reordered = dict(reversed(list(record.items())))
    assert content_hash(record) == content_hash(reordered)


def test_hash_changes_with_content_and_ignores_named_fields() -> None:
    a = {"email": "a@x.io", "name": "A", "synced_at": "1"}
    assert content_hash(a) != content_hash({**a, "name": "B"})
    assert content_hash(a, ignore=["synced_at"]) == content_hash(
        {**a, "synced_at": "2"}, ignore=["synced_at"]
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, {1, 2}, object()])
def test_unserialisable_values_are_rejected_not_coerced(bad: object) -> None:
    with pytest.raises(RecordRejected, match="not JSON-serialisable") as info:
        canonical_json({"v": bad})
    assert info.value.reason == "not_json_serialisable"


def test_natural_key_single_and_composite() -> None:
    assert natural_key({"email": "a@x.io"}, ["email"]) == "a@x.io"
    assert natural_key({"tenant": 7, "id": "x"}, ["tenant", "id"]) == "7\x1fx"


@pytest.mark.parametrize("record", [{}, {"email": None}, {"email": ""}, {"email": math.nan}])
def test_missing_natural_key_names_the_field(record: dict[str, object]) -> None:
    with pytest.raises(RecordRejected, match="natural key field 'email'") as info:
        natural_key(record, ["email"])
    assert info.value.reason == "missing_key"


def test_non_scalar_natural_key_is_rejected() -> None:
    with pytest.raises(RecordRejected, match="not a scalar"):
        natural_key({"email": ["a", "b"]}, ["email"])


def test_idempotency_key_is_deterministic_and_content_bound() -> None:
    first = idempotency_key("crm", "a@x.io", "h1")
    assert first == idempotency_key("crm", "a@x.io", "h1")
    assert first != idempotency_key("crm", "a@x.io", "h2")
    assert first != idempotency_key("erp", "a@x.io", "h1")
    assert first.startswith("rapi-")
    assert len(first) == 45
