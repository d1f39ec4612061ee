"""Natural keys, canonical content hashes and deterministic idempotency keys of records.

The same record always gets the same key and hash, whatever the order of its fields, so a
retried or re-run load recognises what it already wrote.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reliable_api.exceptions import RecordRejected

#: Separates the parts of a composite natural key (a unit separator: never in real key values).
KEY_SEPARATOR = "\x1f"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal records give equal text.

    :raises RecordRejected: for a value JSON cannot hold (NaN, infinity, sets, objects),
        naming the problem; such a record must be dead-lettered, not silently coerced.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise RecordRejected(
            f"record is not JSON-serialisable: {error}", reason="not_json_serialisable"
        ) from None


def content_hash(record: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> str:
    """SHA-256 of the record's canonical JSON, without the fields in ``ignore`` (e.g. timestamps)."""
    skipped = set(ignore)
    payload = {name: value for name, value in record.items() if name not in skipped}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def natural_key(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    """The record's natural key: its ``fields`` values, joined.

    :raises RecordRejected: when a key field is missing, empty or not a scalar, naming it.
    """
    parts = []
    for name in fields:
        value = record.get(name)
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            raise RecordRejected(f"record has no value for natural key field {name!r}", reason="missing_key")
        if isinstance(value, (dict, list, tuple, set)):
            raise RecordRejected(
                f"natural key field {name!r} is not a scalar: {value!r}", reason="invalid_key"
            )
        parts.append(str(value))
    return KEY_SEPARATOR.join(parts)


def idempotency_key(integration: str, key: str, payload_hash: str) -> str:
    """A deterministic ``Idempotency-Key`` for creating ``key`` with this content.

    The same record and content always send the same key, so a create retried after a crash is
    recognised by an API that honours idempotency keys; changed content sends a new one.
    """
    digest = hashlib.sha256(f"{integration}{KEY_SEPARATOR}{key}{KEY_SEPARATOR}{payload_hash}".encode())
    return f"rapi-{digest.hexdigest()[:40]}"


#: Starts every batch's ``Idempotency-Key``, so a pending intent tells which kind of create it awaits.
BATCH_KEY_PREFIX = "rapi-batch-"


def batch_idempotency_key(integration: str, members: Iterable[tuple[str, str, str]]) -> str:
    """A deterministic ``Idempotency-Key`` for one batch create: its members, in any order.

    :param members: each member's natural key, payload hash and the key of its own pending
        intent. The same members with the same content always give the same key, so a batch sent
        again after a crash is replayed by the API; another member, one fewer, or a changed
        payload gives another key. A record the API answered "not created" gets a new intent key
        (:func:`idempotency_key` under the failed batch's key), so its next batch is never
        mistaken for a replay of the failed one.
    """
    text = json.dumps([integration, sorted(members)], ensure_ascii=False, separators=(",", ":"))
    return f"{BATCH_KEY_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def is_batch_key(key: str | None) -> bool:
    """Whether ``key`` (an intent's ``Idempotency-Key``) was sent, or is to be sent, with a batch."""
    return key is not None and key.startswith(BATCH_KEY_PREFIX)
