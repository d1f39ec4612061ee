"""The key a dead letter is filed under."""

from __future__ import annotations

import hashlib


def dead_letter_key(record_key: str | None, record: object) -> str:
    """``record_key``, or for a record without a usable natural key a hash of what it holds.

    The hash keeps such a record's entry stable: failing again updates it instead of adding one.
    """
    if record_key:
        return record_key
    return f"no-key:{hashlib.sha256(repr(record).encode()).hexdigest()[:24]}"
