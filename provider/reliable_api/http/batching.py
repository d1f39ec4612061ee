"""Cut records into the requests of a bulk endpoint: at most N records, and at most B bytes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from reliable_api.exceptions import ConfigurationError

T = TypeVar("T")

# What ``json.dumps`` (and so requests' ``json=``) puts around and between array items.
_BRACKETS = len("[]")
_SEPARATOR = len(", ")


def json_size(record: object) -> int:
    """Bytes of ``record`` encoded as requests' ``json=`` encodes it (ASCII, default separators)."""
    return len(json.dumps(record))


def chunked(records: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of ``size`` records (the last one may be shorter), lazily.

    :param records: any iterable, consumed once.
    :param size: records per list.
    :raises ConfigurationError: at once, when ``size`` is not a positive integer.
    """
    _require_positive(size=size)
    return _chunks(iter(records), size)


def chunked_by_bytes(
    records: Iterable[T],
    *,
    max_records: int,
    max_bytes: int,
    size_of: Callable[[T], int] = json_size,
) -> Iterator[list[T]]:
    """Yield lists of at most ``max_records`` records whose JSON array fits in ``max_bytes``, lazily.

    The array is measured as ``json.dumps`` writes it: brackets, and ``", "`` between records.
    Leave room in ``max_bytes`` for any envelope around the array. A record that alone passes
    ``max_bytes`` goes in a list of its own: the API decides (a 413 rejects that record only).

    :param records: any iterable, consumed once.
    :param max_records: records per list at most.
    :param max_bytes: bytes of the JSON array at most.
    :param size_of: the encoded size of one record.
    :raises ConfigurationError: at once, when a limit is not a positive integer.
    """
    _require_positive(max_records=max_records, max_bytes=max_bytes)
    return _chunks_by_bytes(iter(records), max_records, max_bytes, size_of)


def _chunks(records: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(records, size)):
        yield batch


def _chunks_by_bytes(
    records: Iterator[T], max_records: int, max_bytes: int, size_of: Callable[[T], int]
) -> Iterator[list[T]]:
    batch: list[T] = []
    used = _BRACKETS
    for record in records:
        size = size_of(record)
        if batch and (len(batch) == max_records or used + _SEPARATOR + size > max_bytes):
            yield batch
            batch, used = [], _BRACKETS
        used += size + (_SEPARATOR if batch else 0)
        batch.append(record)
    if batch:
        yield batch


def _require_positive(**limits: int) -> None:
    for name, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
