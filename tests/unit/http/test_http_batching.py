from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ConfigurationError
from reliable_api.http.batching import chunked, chunked_by_bytes, json_size

RECORDS = st.lists(
    st.dictionaries(st.sampled_from(["id", "name", "note"]), st.text(max_size=30) | st.integers()),
    max_size=60,
)


def test_chunked() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []


def test_chunked_is_lazy() -> None:
    def endless() -> Iterator[int]:
        number = 0
        while True:
            yield number
            number += 1

    assert next(chunked(endless(), 2)) == [0, 1]


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "3", None])
def test_a_bad_size_fails_at_once(size: Any) -> None:
    with pytest.raises(ConfigurationError, match="size must be a positive integer"):
        chunked([1], size)


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=10))
def test_chunked_keeps_every_record_once_in_order(records: list[int], size: int) -> None:
    batches = list(chunked(records, size))
    assert [record for batch in batches for record in batch] == records
    assert all(len(batch) == size for batch in batches[:-1])
    assert all(0 < len(batch) <= size for batch in batches)


def test_json_size_matches_what_requests_sends() -> None:
    record = {"name": "Zoë", "tags": ["a", "b"]}
    body = requests.Request("POST", "https://api.test/bulk", json=record).prepare().body
    assert isinstance(body, bytes)
    assert json_size(record) == len(body) == 40  # "ë" travels as \u00eb


def test_chunked_by_bytes_counts_brackets_and_separators() -> None:
    records = ["aaaa", "bbbb", "cccc"]  # 6 bytes each as JSON
    # '["aaaa", "bbbb"]' is 16 bytes; a third record would make 24.
    assert list(chunked_by_bytes(records, max_records=10, max_bytes=16)) == [["aaaa", "bbbb"], ["cccc"]]
    assert list(chunked_by_bytes(records, max_records=10, max_bytes=15)) == [["aaaa"], ["bbbb"], ["cccc"]]
    assert list(chunked_by_bytes(records, max_records=2, max_bytes=1000)) == [["aaaa", "bbbb"], ["cccc"]]


def test_an_oversized_record_travels_alone() -> None:
    records = ["a", "x" * 100, "b"]
    assert list(chunked_by_bytes(records, max_records=10, max_bytes=20)) == [["a"], ["x" * 100], ["b"]]


@pytest.mark.parametrize(("max_records", "max_bytes"), [(0, 10), (10, 0), (10, -5), (2.0, 10)])
def test_bad_limits_fail_at_once(max_records: Any, max_bytes: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be a positive integer"):
        chunked_by_bytes([1], max_records=max_records, max_bytes=max_bytes)


@given(RECORDS, st.integers(min_value=1, max_value=8), st.integers(min_value=2, max_value=400))
def test_chunked_by_bytes_respects_both_limits(records: list[Any], max_records: int, max_bytes: int) -> None:
    batches = list(chunked_by_bytes(records, max_records=max_records, max_bytes=max_bytes))
    assert [record for batch in batches for record in batch] == records
    for batch in batches:
        assert 0 < len(batch) <= max_records
        assert len(batch) == 1 or len(json.dumps(batch)) <= max_bytes
