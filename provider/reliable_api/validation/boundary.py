"""Validation at an integration boundary: normalize with the contract, then run its GX suite.

A record is rejected by the first stage it fails: a normalizer (the record as received is kept,
with every field's reason), or a row-level expectation (the normalized record is kept, with
every expectation it failed). Nothing is dropped: ``len(good) + len(rejected)`` is always the
input's length. A table-level expectation that fails raises
:class:`~reliable_api.validation.expectations.BatchValidationFailed`: no row of that batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reliable_api.deadletter.keys import dead_letter_key
from reliable_api.exceptions import RecordRejected

if TYPE_CHECKING:
    from reliable_api.validation.contract import Contract

log = logging.getLogger(__name__)

#: The reason counted for a record that failed Great Expectations, before the expectation's name.
EXPECTATION_REASON = "expectation"


@dataclass(frozen=True)
class Quarantined:
    """A rejected record: what to dead-letter, and why (one reason per failed field/expectation)."""

    key: str
    record: Mapping[str, Any]
    reasons: tuple[str, ...]
    message: str

    def error(self) -> RecordRejected:
        """The dead letter's error: the first reason is its ``reason``, all are in the message."""
        return RecordRejected(self.message, record_key=self.key, reason=self.reasons[0])


@dataclass
class ValidatedBatch:
    """Good records (normalized, in input order) and quarantined ones, with the suite's summary."""

    good: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Quarantined] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Records in the input."""
        return len(self.good) + len(self.rejected)

    def reasons(self) -> dict[str, int]:
        """Rejected records per reason (a record with two reasons counts under both)."""
        return dict(Counter(reason for item in self.rejected for reason in item.reasons))


def validate_batch(
    records: Sequence[Mapping[str, Any]], contract: Contract, *, processes: int = 1
) -> ValidatedBatch:
    """Normalize ``records`` with ``contract``, then evaluate its expectations on the good ones.

    :param processes: 1, or 2 to normalize half of a large batch in a forked child.
    :raises BatchValidationFailed: when a table-level expectation fails.
    """
    from reliable_api.validation.expectations import evaluate
    from reliable_api.validation.normalize import normalize_records
    from reliable_api.validation.quiet import quiet_great_expectations

    started = time.monotonic()
    normalized = normalize_records(records, contract, processes=processes)
    log.info(
        "Normalized %d records in %.1f s: %d rejected; checking %d expectations on the %d others",
        len(records),
        time.monotonic() - started,
        len(normalized.rejected),
        len(contract.expectations),
        len(normalized.good),
    )
    batch = ValidatedBatch()
    for rejected in normalized.rejected:
        reasons = tuple(rejection.reason for rejection in rejected.rejections)
        described = "; ".join(
            f"{r.field}: {r.reason}" + (f" ({r.detail})" if r.detail else "") for r in rejected.rejections
        )
        key = dead_letter_key(_key_of(rejected.record, contract.natural_key), rejected.record)
        batch.rejected.append(
            Quarantined(key, rejected.record, reasons, f"normalization failed: {described}")
        )
    started = time.monotonic()
    with quiet_great_expectations():
        result = evaluate(normalized.good, contract.expectations, contract.natural_key)
    good, failed = result.split(normalized.good)
    log.info("Great Expectations checked them in %.1f s: %d failed", time.monotonic() - started, len(failed))
    batch.good = [dict(record) for record in good]
    for record, failure in failed:
        reasons = tuple(f"{EXPECTATION_REASON}:{name}" for name in failure.failed)
        message = "failed expectations: " + "; ".join(failure.failed)
        batch.rejected.append(Quarantined(dead_letter_key(failure.key, record), record, reasons, message))
    batch.summary = result.summary_dict()
    return batch


def _key_of(record: Mapping[str, Any], fields: Sequence[str]) -> str | None:
    """The natural key of a record as received, or ``None`` when a key field is unusable."""
    from reliable_api.core.keys import natural_key

    try:
        return natural_key(record, fields)
    except RecordRejected:
        return None
