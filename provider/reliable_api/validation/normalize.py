"""Apply a contract's normalizers to a batch of records: good records out, rejected ones with reasons.

Nothing is dropped: every input record comes out either normalized in ``good`` or, with all its
rejections, in ``rejected``. A missing, null or blank value of a required field is a
``missing_required`` rejection; of an optional field, ``None``. A field the contract does not
declare is kept, dropped or rejected (``undeclared_field``) as the contract's
``undeclared_fields`` says (default ``reject``).

Real data repeats values (names, dates, companies), so each field's normalizer keeps a bounded
cache of results by distinct text value. The work runs column by column to keep per-row overhead
low, and may split the batch over two processes (``processes=2``, where ``fork`` exists).
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reliable_api.validation.contract import Contract, FieldSpec
from reliable_api.validation.normalizers import NORMALIZERS, Normalizer
from reliable_api.validation.rejection import Rejection, is_missing

#: Distinct values remembered per field; the cache is emptied when it fills (cheap, and a batch
#: whose values drift keeps getting hits on the recent ones).
DEFAULT_CACHE_SIZE = 200_000
#: A field whose first ``CACHE_PROBE`` cache misses came with a hit rate under
#: ``CACHE_MIN_HIT_RATE`` (ids, timestamps, most emails) stops caching: storing a million distinct
#: values costs time and memory and answers nothing.
CACHE_PROBE = 20_000
CACHE_MIN_HIT_RATE = 0.05
_ABSENT = object()


@dataclass(frozen=True)
class RejectedRecord:
    """An input record that did not pass, with every reason it did not.

    :param index: its position in the input batch.
    :param record: the record as received.
    :param rejections: one per failing field.
    """

    index: int
    record: Mapping[str, Any]
    rejections: tuple[Rejection, ...]


@dataclass
class NormalizedBatch:
    """The outcome of a batch: ``good`` records (normalized) and ``rejected`` ones, input order kept."""

    good: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Records in the input batch: always ``len(good) + len(rejected)``."""
        return len(self.good) + len(self.rejected)

    def reasons(self) -> Counter[str]:
        """How many rejections of each reason the batch had (a record may have several)."""
        return Counter(rejection.reason for record in self.rejected for rejection in record.rejections)


@dataclass
class FieldStats:
    """Cache use of one field: text values looked up and how many were not cached yet."""

    lookups: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        """Share of lookups answered from the cache."""
        return 1 - self.misses / self.lookups if self.lookups else 0.0


class _Column:
    """One field's normalizer, missing-value rule and cache."""

    def __init__(self, spec: FieldSpec, normalizer: Normalizer, cache_size: int) -> None:
        self.name = spec.name
        self.required = spec.required
        self.normalizer = normalizer
        self.cache: dict[str, Any] | None = {} if cache_size > 0 else None
        self.cache_size = cache_size
        self.stats = FieldStats()

    def apply(self, value: Any) -> Any:
        if value is _ABSENT or value is None or is_missing(value):
            if not self.required:
                return None
            return Rejection(self.name, None if value is _ABSENT else value, "missing_required")
        return self.normalizer(value)

    def run(self, values: Iterable[Any], bad: dict[int, list[Rejection]]) -> list[Any]:
        """The normalized ``values``; rejections also filed in ``bad`` by row index."""
        apply, cache = self.apply, self.cache
        out: list[Any] = []
        append = out.append
        lookups, misses = self.stats.lookups, self.stats.misses
        for value in values:
            if cache is not None and type(value) is str:
                lookups += 1
                result = cache.get(value, _ABSENT)
                if result is _ABSENT:
                    misses += 1
                    result = apply(value)
                    if len(cache) >= self.cache_size:
                        cache.clear()
                    cache[value] = result
                    if misses == CACHE_PROBE and lookups * (1 - CACHE_MIN_HIT_RATE) < misses:
                        cache = self.cache = None
            else:
                result = apply(value)
            if type(result) is Rejection:
                bad.setdefault(len(out), []).append(result)
            append(result)
        self.stats.lookups, self.stats.misses = lookups, misses
        return out


@dataclass
class _Columns:
    """Per-field results of some records before they become a batch: lists of values pickle fast."""

    values: list[list[Any]]
    bad: dict[int, list[Rejection]]
    extras: dict[int, dict[str, Any]]


class ContractNormalizer:
    """A contract's normalizers, built once, with caches that last across batches.

    :param contract: the contract to apply.
    :param cache_size: distinct values cached per field; 0 turns caching off.
    """

    def __init__(self, contract: Contract, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.contract = contract
        self._columns = [
            _Column(
                spec,
                NORMALIZERS[spec.normalizer].build(spec.name, spec.options, contract.defaults),
                cache_size,
            )
            for spec in contract.fields
        ]
        self._names = tuple(column.name for column in self._columns)
        self._declared = frozenset(self._names)

    def stats(self) -> dict[str, FieldStats]:
        """Cache use per field since this normalizer was built."""
        return {column.name: column.stats for column in self._columns}

    def normalize(self, records: Sequence[Mapping[str, Any]]) -> NormalizedBatch:
        """Normalize ``records``: every one comes out in ``good`` or in ``rejected``."""
        batch = NormalizedBatch()
        self._assemble(records, self._run(records), batch, start=0)
        return batch

    def _run(self, records: Sequence[Mapping[str, Any]]) -> _Columns:
        """The per-field results of ``records``, column by column."""
        bad: dict[int, list[Rejection]] = {}
        values = [
            column.run([record.get(column.name, _ABSENT) for record in records], bad)
            for column in self._columns
        ]
        return _Columns(values, bad, self._undeclared(records, bad))

    def _assemble(
        self, records: Sequence[Mapping[str, Any]], part: _Columns, batch: NormalizedBatch, start: int
    ) -> None:
        """Append ``records`` to ``batch`` as ``part`` says; ``start`` offsets rejected indexes."""
        names, bad, extras = self._names, part.bad, part.extras
        rows = zip(*part.values, strict=True) if part.values else (() for _ in records)
        for index, row in enumerate(rows):
            rejections = bad.get(index)
            if rejections is not None:
                batch.rejected.append(RejectedRecord(start + index, records[index], tuple(rejections)))
                continue
            normalized = dict(zip(names, row, strict=True))
            if index in extras:
                normalized.update(extras[index])
            batch.good.append(normalized)

    def _undeclared(
        self, records: Sequence[Mapping[str, Any]], bad: dict[int, list[Rejection]]
    ) -> dict[int, dict[str, Any]]:
        """Undeclared fields of each record to keep; with ``reject``, their rejections go to ``bad``."""
        policy, declared = self.contract.undeclared_fields, self._declared
        kept: dict[int, dict[str, Any]] = {}
        if policy == "drop":
            return kept
        for index, record in enumerate(records):
            if record.keys() <= declared:
                continue
            extra = {name: record[name] for name in record.keys() - declared}
            if policy == "keep":
                kept[index] = extra
            else:
                bad.setdefault(index, []).extend(
                    Rejection(name, value, "undeclared_field", "not declared in the contract")
                    for name, value in extra.items()
                )
        return kept


def normalize_records(
    records: Sequence[Mapping[str, Any]],
    contract: Contract,
    *,
    processes: int = 1,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> NormalizedBatch:
    """Normalize a batch with ``contract``, in one process or split over two.

    :param processes: 1 or 2; with 2 (and the ``fork`` start method available) the second half of
        the batch runs in a forked child while this process does the first half.
    :param cache_size: distinct values cached per field (0: no cache).
    """
    normalizer = ContractNormalizer(contract, cache_size=cache_size)
    if processes < 2 or len(records) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return normalizer.normalize(records)
    middle = len(records) // 2
    first_half, second_half = records[:middle], records[middle:]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    # Forked: the child inherits the records and the built normalizers, and sends back only its
    # columns of results; the records themselves never cross the pipe.
    child = context.Process(target=_run_half, args=(normalizer, second_half, sender), daemon=True)
    child.start()
    sender.close()
    try:
        first = normalizer._run(first_half)
        second: _Columns = receiver.recv()
    finally:
        receiver.close()
        child.join()
    batch = NormalizedBatch()
    normalizer._assemble(first_half, first, batch, start=0)
    normalizer._assemble(second_half, second, batch, start=middle)
    return batch


def _run_half(normalizer: ContractNormalizer, records: Sequence[Mapping[str, Any]], sender: Any) -> None:
    sender.send(normalizer._run(records))
    sender.close()
