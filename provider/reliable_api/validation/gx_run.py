"""Running a planned suite through Great Expectations, fast, and reading back which rows failed.

Great Expectations stays the evaluator; what changes is what it is given:

- column-map expectations that judge each value alone (:data:`~.gx_suite.PER_VALUE_METRICS`) run
  on the column's distinct values (nulls once), and a failing value is mapped back to every row
  holding it through the codes of :func:`pandas.factorize`;
- other row-level expectations and column aggregates run on the full rows of the columns they
  name, and their failures come back as positions (``COMPLETE`` without
  ``unexpected_index_column_names``: with a ``RangeIndex``, a label is the row's position);
- expectations about column names and types run on a frame with no rows, those about the row count
  on a frame with no columns.

Each frame is one batch of one ephemeral context, validated directly (no validation definition,
so GX does not serialise and store the complete result). numpy, pandas and GX are imported
inside the functions only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError
from reliable_api.validation.gx_plain import example, to_plain
from reliable_api.validation.gx_suite import ALL_COLUMNS, Mode, Planned

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: pandas has no type stubs here: its objects are typed as Any.
DataFrame = Any
Series = Any

#: Inferred pandas types whose equal values always look the same to an expectation, so one
#: distinct value stands for all rows holding it (floats do not: ``0.0 == -0.0``).
DISTINCT_SAFE_TYPES = frozenset({"string", "integer", "boolean", "datetime64", "datetime", "date"})


@dataclass
class Outcome:
    """What one expectation found.

    :param success: GX's verdict (for row-level ones recomputed over rows, honouring ``mostly``);
        ``None`` when not evaluated (an empty batch).
    :param evaluated: rows judged (non-null rows where GX skips nulls).
    :param failed: rows that failed it.
    :param examples: a few failing values (row-level) as plain Python.
    :param observed: GX's observed value (table-level), as plain Python.
    :param rows: which rows failed (row-level only).
    """

    planned: Planned
    success: bool | None
    evaluated: int = 0
    failed: int = 0
    examples: list[Any] | None = None
    observed: Any = None
    rows: npt.NDArray[np.bool_] | None = None


class _Session:
    """One ephemeral GX context with a pandas whole-dataframe batch definition."""

    def __init__(self, examples: int) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.examples = examples
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = self.context.data_sources.add_pandas(name="reliable_api").add_dataframe_asset(name="batch")
        self.batch_definition = asset.add_batch_definition_whole_dataframe(name="whole")
        self.result_format = {
            "result_format": "COMPLETE",
            "partial_unexpected_count": examples,
            "return_unexpected_index_query": False,
        }

    def validate(self, frame: DataFrame, items: Sequence[Planned]) -> dict[int, Any]:
        """Validate ``frame`` against ``items``; their GX results by :attr:`Planned.position`.

        :raises ConfigurationError: when GX could not evaluate one of them on this data.
        """
        import great_expectations as gx
        from great_expectations.validator.v1_validator import Validator

        suite = gx.ExpectationSuite(name="reliable_api", expectations=[item.build() for item in items])
        # What ValidationDefinition.run does, without storing the result: Batch.validate would
        # fetch (and fingerprint) the dataframe twice.
        validator = Validator(
            self.batch_definition, result_format=self.result_format, batch_parameters={"dataframe": frame}
        )
        results = validator.validate_expectation_suite(suite).results
        by_position = {_position(result): result for result in results}
        for item in items:
            error = _raised(by_position[item.position].exception_info)
            if error is not None:
                raise ConfigurationError(f"{item.name} could not be evaluated on this batch: {error}")
        return by_position


def run(
    planned: Sequence[Planned], columns: Sequence[str], rows: Sequence[Mapping[str, Any]], examples: int
) -> list[Outcome]:
    """Evaluate ``planned`` on ``rows`` (whose columns are ``columns``); outcomes in suite order.

    In an empty batch there is nothing to reject and no column to look at: only the row count is
    judged, the other expectations are not evaluated.
    """
    session = _Session(examples)
    frames = _Columns(rows, columns)
    outcomes = _data_outcomes(session, frames, planned) if rows else {}
    counted = [item for item in planned if item.mode is Mode.ROW_COUNT]
    if counted:
        outcomes.update(_table_outcomes(session.validate(frames.no_columns(), counted), counted, len(rows)))
    return [outcomes.get(item.position) or Outcome(item, None) for item in planned]


def _data_outcomes(session: _Session, frames: _Columns, planned: Sequence[Planned]) -> dict[int, Outcome]:
    """Outcomes of every expectation but the row-count ones, on a non-empty batch."""
    total = len(frames.rows)
    full = [item for item in planned if item.mode in (Mode.ROW, Mode.TABLE)]
    every_column = any(item.columns == ALL_COLUMNS for item in full)
    in_full = list(frames.columns) if every_column else _union(full)
    by_column: dict[str, list[Planned]] = {}
    for item in planned:
        if item.mode is Mode.VALUE:
            by_column.setdefault(item.columns[0], []).append(item)
    outcomes: dict[int, Outcome] = {}
    for column, items in by_column.items():
        if column not in in_full and frames.distinct_safe(column):
            outcomes.update(_value_outcomes(session, frames, column, items))
        else:
            full.extend(items)
    if full:
        results = session.validate(frames.frame(in_full if every_column else _union(full)), full)
        outcomes.update(_row_outcomes(results, [item for item in full if item.row_level], total))
        outcomes.update(_table_outcomes(results, [item for item in full if not item.row_level], total))
    schema = [item for item in planned if item.mode is Mode.SCHEMA]
    if schema:
        typed = [str(item.kwargs["column"]) for item in schema if item.type == "ExpectColumnTypeToBe"]
        frame = frames.no_rows([column for column in typed if column in frames.columns])
        outcomes.update(_table_outcomes(session.validate(frame, schema), schema, total))
    return outcomes


class _Columns:
    """The batch's columns as pandas Series, each built once, and the frames made of them."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
        self.rows = rows
        self.columns = columns
        self.series: dict[str, Series] = {}

    def get(self, column: str) -> Series:
        pd = _pandas()

        if column not in self.series:
            # The same inference as pandas.DataFrame(rows) gives the column, without its cost.
            self.series[column] = pd.Series([row.get(column) for row in self.rows], name=column)
        return self.series[column]

    def frame(self, columns: Iterable[str]) -> DataFrame:
        pd = _pandas()

        return pd.DataFrame({column: self.get(column) for column in columns})

    def no_rows(self, typed: Iterable[str]) -> DataFrame:
        """Every column, no rows: all that names, order, count and types need.

        Only the ``typed`` columns (those whose type is expected) get their dtype: inferring it
        reads every value.
        """
        pd = _pandas()

        typed = set(typed)
        return pd.DataFrame(
            {
                column: self.get(column).iloc[:0] if column in typed else pd.Series((), dtype=object)
                for column in self.columns
            }
        )

    def no_columns(self) -> DataFrame:
        """As many rows as the batch, no columns: all that a row count needs."""
        pd = _pandas()

        return pd.DataFrame(index=pd.RangeIndex(len(self.rows)))

    def distinct_safe(self, column: str) -> bool:
        pd = _pandas()

        return pd.api.types.infer_dtype(self.get(column), skipna=True) in DISTINCT_SAFE_TYPES


def _value_outcomes(
    session: _Session, frames: _Columns, column: str, items: Sequence[Planned]
) -> dict[int, Outcome]:
    """Run ``items`` on the distinct values of ``column`` and map failing values back to rows."""
    import numpy as np

    pd = _pandas()

    series = frames.get(column)
    codes, uniques = pd.factorize(series)
    distinct = len(uniques)
    nulls = int(np.count_nonzero(codes == -1))
    # Distinct values, then one null if the column has any; factorize codes a null as -1, which
    # indexes the last slot of a lookup array of length distinct + 1.
    take = np.arange(distinct + (1 if nulls else 0))
    take[distinct:] = -1
    values = pd.Series(uniques.array.take(take, allow_fill=True), name=column, dtype=series.dtype)
    results = session.validate(pd.DataFrame({column: values}), items)
    outcomes = {}
    for item in items:
        result = results[item.position].result
        positions = sorted(int(p) for p in result.get("unexpected_index_list") or ())
        failing = np.zeros(distinct + 1, dtype=bool)
        failing[positions] = True
        rows = failing[codes]
        failed = int(np.count_nonzero(rows))
        evaluated = len(series) - nulls if "missing_count" in result else len(series)
        outcomes[item.position] = Outcome(
            item,
            _mostly_met(item, evaluated, failed),
            evaluated,
            failed,
            [example(values.iloc[p]) for p in positions[: session.examples]],
            rows=rows,
        )
    return outcomes


def _row_outcomes(results: Mapping[int, Any], items: Sequence[Planned], total: int) -> dict[int, Outcome]:
    import numpy as np

    outcomes = {}
    for item in items:
        result = results[item.position].result
        rows = np.zeros(total, dtype=bool)
        rows[np.asarray(result.get("unexpected_index_list") or (), dtype=np.int64)] = True
        failed = int(np.count_nonzero(rows))
        evaluated = int(result.get("element_count", total)) - int(result.get("missing_count") or 0)
        examples = [example(value) for value in result.get("partial_unexpected_list") or ()]
        outcomes[item.position] = Outcome(
            item, _mostly_met(item, evaluated, failed), evaluated, failed, examples, rows=rows
        )
    return outcomes


def _table_outcomes(results: Mapping[int, Any], items: Sequence[Planned], total: int) -> dict[int, Outcome]:
    return {
        item.position: Outcome(
            item,
            bool(results[item.position].success),
            total,
            observed=to_plain(results[item.position].result.get("observed_value")),
        )
        for item in items
    }


def _mostly_met(item: Planned, evaluated: int, failed: int) -> bool:
    mostly = float(item.kwargs.get("mostly", 1.0))
    return evaluated == 0 or (evaluated - failed) / evaluated >= mostly


def _union(items: Iterable[Planned]) -> list[str]:
    return list(dict.fromkeys(column for item in items for column in item.columns))


def _pandas() -> Any:
    """pandas, imported when first needed (it has no type stubs in this project's environment)."""
    import pandas  # type: ignore[import-untyped]

    return pandas


def _position(result: Any) -> int:
    return int(result.expectation_config.meta["reliable_api_position"])


def _raised(exception_info: Any) -> str | None:
    """The message of an exception GX caught while evaluating, or ``None``."""
    if not isinstance(exception_info, Mapping):
        return None
    if exception_info.get("raised_exception"):
        return str(exception_info.get("exception_message") or "an exception")
    for value in exception_info.values():
        nested = _raised(value)
        if nested is not None:
            return nested
    return None
