"""The Great Expectations step: row-level quarantine on a batch of normalized records.

:func:`evaluate` runs a contract's expectations (GX class names with kwargs) on a batch in an
ephemeral GX context and says, for every failing row, its natural key and the expectations it
failed; a failing table-level expectation (row count, column set, aggregates) fails the whole
batch with :class:`BatchValidationFailed`. The result is plain Python, safe to serialise as JSON,
and carries a per-expectation summary in the spirit of GX data docs.

Importing this module imports neither Great Expectations nor pandas; :func:`evaluate` does.
How the suite is evaluated fast is described in :mod:`reliable_api.validation.gx_run` and
docs/adr/0008-gx-row-quarantine.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import compress
from typing import TYPE_CHECKING, Any

from reliable_api.core.keys import natural_key
from reliable_api.exceptions import ConfigurationError, PermanentError, RecordRejected
from reliable_api.validation.gx_plain import to_plain
from reliable_api.validation.gx_suite import ALL_COLUMNS, ExpectationLike, Mode, Planned, plan_expectations

if TYPE_CHECKING:
    from reliable_api.validation.gx_run import Outcome

__all__ = [
    "BatchValidationFailed",
    "ExpectationLike",
    "ExpectationSummary",
    "GxValidationResult",
    "RowFailure",
    "evaluate",
]

#: Failing values kept per expectation in the summary.
DEFAULT_EXAMPLES = 5

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RowFailure:
    """A row that failed one or more row-level expectations.

    :param index: its position in the batch.
    :param key: its natural key (see :func:`~reliable_api.core.keys.natural_key`), or
        ``None`` when a key field is empty.
    :param failed: the expectations it failed, each as ``Type(kwarg=value, ...)``.
    """

    index: int
    key: str | None
    failed: tuple[str, ...]


@dataclass(frozen=True)
class ExpectationSummary:
    """What one expectation found in the batch, as GX data docs would show it.

    :param expectation: short description, ``Type(kwarg=value, ...)``.
    :param type: the GX class name.
    :param kwargs: its kwargs, as plain Python.
    :param level: ``"row"`` (failing rows are quarantined) or ``"table"`` (failure fails the batch).
    :param success: whether it held (``mostly`` honoured); ``None`` when not evaluated.
    :param evaluated: rows it judged (GX skips nulls for most column expectations).
    :param failed: rows that failed it (row level).
    :param examples: a few failing values (row level).
    :param observed_value: what GX observed (table level).
    """

    expectation: str
    type: str
    kwargs: dict[str, Any]
    level: str
    success: bool | None
    evaluated: int
    failed: int
    examples: list[Any] = field(default_factory=list)
    observed_value: Any = None


@dataclass(frozen=True)
class GxValidationResult:
    """The outcome of :func:`evaluate` on a batch whose table-level expectations held.

    :param total: rows in the batch.
    :param rejected: failing rows, in batch order.
    :param summary: one entry per expectation, in suite order.
    """

    total: int
    rejected: tuple[RowFailure, ...]
    summary: tuple[ExpectationSummary, ...]

    @property
    def good(self) -> int:
        """Rows that passed every expectation."""
        return self.total - len(self.rejected)

    def split(self, rows: Sequence[Row]) -> tuple[list[Row], list[tuple[Row, RowFailure]]]:
        """The batch that was evaluated, split into good rows and (rejected row, failure) pairs."""
        if len(rows) != self.total:
            raise ValueError(f"split() needs the {self.total} rows that were evaluated, got {len(rows)}")
        keep = bytearray(b"\x01") * self.total
        for failure in self.rejected:
            keep[failure.index] = 0
        return list(compress(rows, keep)), [(rows[failure.index], failure) for failure in self.rejected]

    def summary_dict(self) -> dict[str, Any]:
        """Counts and the per-expectation summary, JSON-ready: what is kept with the run for the UI."""
        return {
            "total": self.total,
            "good": self.good,
            "rejected": len(self.rejected),
            "expectations": [asdict(item) for item in self.summary],
        }


class BatchValidationFailed(PermanentError):
    """The batch as a whole failed: no row of it should go on, and retrying cannot help.

    Raised when a table-level expectation did not hold, or a column an expectation reads is absent.

    :param summary: the per-expectation summary (JSON-ready dicts), when the suite was evaluated.
    """

    def __init__(self, message: str, *, summary: Sequence[Mapping[str, Any]] = (), **kwargs: Any) -> None:
        self.summary = [dict(item) for item in summary]
        super().__init__(message, **kwargs)

    def _state(self) -> dict[str, object]:
        return {**super()._state(), "summary": self.summary}


def evaluate(
    rows: Sequence[Row],
    expectations: Iterable[ExpectationLike],
    key_fields: Sequence[str],
    *,
    examples: int = DEFAULT_EXAMPLES,
) -> GxValidationResult:
    """Evaluate ``expectations`` on a batch of normalized records with Great Expectations.

    :param rows: the records; a field absent from a record counts as null.
    :param expectations: GX class names with kwargs (anything with ``.type`` and ``.kwargs``).
    :param key_fields: the natural key's fields, reported for each failing row.
    :param examples: failing values kept per expectation in the summary.
    :raises ConfigurationError: an unknown expectation type, kwargs GX refuses, an expectation
        GX cannot evaluate on this data, or no key field.
    :raises BatchValidationFailed: a table-level expectation failed, or a column an expectation
        reads is in no record of a non-empty batch.
    """
    from reliable_api.validation.gx_run import run

    if not key_fields:
        raise ConfigurationError("evaluate() needs at least one natural key field")
    planned = plan_expectations(expectations)
    columns = _batch_columns(rows)
    _check_columns(planned, columns, rows)
    outcomes = run(planned, columns, rows, examples)
    summary = tuple(_summary(outcome) for outcome in outcomes)
    failed = [item for item in summary if item.level == "table" and item.success is False]
    if failed:
        described = "; ".join(f"{item.expectation} observed {item.observed_value!r}" for item in failed)
        raise BatchValidationFailed(
            f"the batch of {len(rows)} rows failed {len(failed)} table-level expectation(s): {described}",
            summary=[asdict(item) for item in summary],
        )
    return GxValidationResult(len(rows), _rejections(outcomes, rows, key_fields), summary)


def _batch_columns(rows: Sequence[Row]) -> list[str]:
    """The batch's columns in order of first appearance, as ``pandas.DataFrame(rows)`` has them."""
    if not rows:
        return []
    first = list(rows[0])
    if set().union(*rows).issubset(first):
        return first
    return list(dict.fromkeys(name for row in rows for name in row))


def _check_columns(planned: Iterable[Planned], columns: Sequence[str], rows: Sequence[Row]) -> None:
    if not rows:
        return
    present = set(columns)
    for item in planned:
        if item.mode is Mode.SCHEMA or item.columns == ALL_COLUMNS:
            continue
        missing = [column for column in item.columns if column not in present]
        if missing:
            raise BatchValidationFailed(
                f"no record of the batch has the column(s) {missing} that {item.name} reads; "
                f"columns present: {sorted(present)}"
            )


def _summary(outcome: Outcome) -> ExpectationSummary:
    item = outcome.planned
    return ExpectationSummary(
        expectation=item.name,
        type=item.type,
        kwargs=to_plain(dict(item.kwargs)),
        level="row" if item.row_level else "table",
        success=outcome.success,
        evaluated=outcome.evaluated,
        failed=outcome.failed,
        examples=list(outcome.examples or ()),
        observed_value=outcome.observed,
    )


def _rejections(
    outcomes: Sequence[Outcome], rows: Sequence[Row], key_fields: Sequence[str]
) -> tuple[RowFailure, ...]:
    """One :class:`RowFailure` per failing row; rows failing the same expectations share a tuple."""
    import numpy as np

    row_level = [outcome for outcome in outcomes if outcome.rows is not None]
    if not row_level or not rows:
        return ()
    hits = np.stack([outcome.rows for outcome in row_level if outcome.rows is not None])
    positions = np.flatnonzero(hits.any(axis=0))
    # Each failing row's set of failed expectations as one integer (bit i: expectation i), so
    # that rows failing the same ones share one tuple of names; Python ints past 62 expectations.
    patterns = np.zeros(len(positions), dtype=np.int64 if len(row_level) < 63 else object)
    for bit, row_hits in enumerate(hits[:, positions]):
        patterns += row_hits.astype(patterns.dtype) << bit
    names: dict[int, tuple[str, ...]] = {}
    for pattern in set(patterns.tolist()):
        names[pattern] = tuple(
            outcome.planned.name for i, outcome in enumerate(row_level) if pattern >> i & 1
        )
    return tuple(
        RowFailure(index, _key(rows[index], key_fields), names[pattern])
        for index, pattern in zip(positions.tolist(), patterns.tolist(), strict=True)
    )


def _key(row: Row, key_fields: Sequence[str]) -> str | None:
    try:
        return natural_key(row, key_fields)
    except RecordRejected:
        return None
