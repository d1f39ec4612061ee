"""Expectations by Great Expectations class name, checked, built and sorted by how they are run.

Great Expectations itself drops an expectation type it does not know when a suite is loaded from a
dictionary; here an unknown type or bad kwargs raise :class:`ConfigurationError` naming it.
Great Expectations is imported only inside :func:`plan_expectations`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reliable_api.exceptions import ConfigurationError
from reliable_api.validation.gx_plain import describe


class ExpectationLike(Protocol):
    """What the runner needs of an expectation: the GX class name and its kwargs."""

    @property
    def type(self) -> str:
        """GX class name, e.g. ``ExpectColumnValuesToMatchRegex``."""

    @property
    def kwargs(self) -> Mapping[str, Any]:
        """The expectation's kwargs, e.g. ``{"column": "email", "regex": "..."}``."""


class Mode(enum.Enum):
    """How an expectation is evaluated, and on which frame."""

    #: a column-map expectation whose verdict depends on one value only: run on the column's
    #: distinct values, failures mapped back to rows
    VALUE = "value"
    #: any other row-level (map) expectation: run on the full rows of the columns it names
    ROW = "row"
    #: a table-level expectation that reads column data (aggregates): run on those full columns
    TABLE = "table"
    #: a table-level expectation about column names, order, count or types only
    SCHEMA = "schema"
    #: a table-level expectation about the number of rows only
    ROW_COUNT = "row_count"


#: Map metrics whose verdict on a value depends on that value alone (not on other rows, the
#: column's dtype or its statistics), so evaluating distinct values is exact.
PER_VALUE_METRICS = frozenset(
    {
        "column_values.between",
        "column_values.dateutil_parseable",
        "column_values.in_set",
        "column_values.json_parseable",
        "column_values.match_json_schema",
        "column_values.match_like_pattern",
        "column_values.match_like_pattern_list",
        "column_values.match_regex",
        "column_values.match_regex_list",
        "column_values.match_strftime_format",
        "column_values.nonnull",
        "column_values.not_in_set",
        "column_values.not_match_like_pattern",
        "column_values.not_match_like_pattern_list",
        "column_values.not_match_regex",
        "column_values.not_match_regex_list",
        "column_values.null",
        "column_values.value_length.between",
        "column_values.value_length.equals",
    }
)
SCHEMA_TYPES = frozenset(
    {
        "ExpectColumnToExist",
        "ExpectColumnTypeToBe",
        "ExpectTableColumnCountToBeBetween",
        "ExpectTableColumnCountToEqual",
        "ExpectTableColumnsToMatchOrderedList",
        "ExpectTableColumnsToMatchSet",
    }
)
ROW_COUNT_TYPES = frozenset({"ExpectTableRowCountToBeBetween", "ExpectTableRowCountToEqual"})
#: Kwargs that name the columns an expectation reads.
COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")
#: :attr:`Planned.columns` of an expectation that may read any column.
ALL_COLUMNS = ("*",)


@dataclass(frozen=True)
class Planned:
    """One expectation of the suite, checked and sorted.

    :param position: its place in the suite as given.
    :param type: the GX class name.
    :param kwargs: its kwargs as given.
    :param name: a short description (type and kwargs) used in row failures and summaries.
    :param mode: how it is evaluated.
    :param columns: the columns whose data it reads; every column of the batch when it has a
        ``row_condition`` (which may name any column).
    :param row_level: whether it judges rows one by one (a map expectation).
    """

    position: int
    type: str
    kwargs: Mapping[str, Any]
    name: str
    mode: Mode
    columns: tuple[str, ...]
    row_level: bool

    def build(self) -> Any:
        """A fresh GX expectation object, tagged with :attr:`position` to find its result."""
        import great_expectations as gx

        cls = getattr(gx.expectations, self.type)
        meta = {**(self.kwargs.get("meta") or {}), "reliable_api_position": self.position}
        return cls(**{**self.kwargs, "meta": meta})


def plan_expectations(expectations: Iterable[ExpectationLike]) -> list[Planned]:
    """Check each expectation against Great Expectations and decide how it is evaluated.

    :raises ConfigurationError: for a type GX does not know, or kwargs it refuses; the message
        names the expectation and its place in the suite.
    """
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        Expectation,
        MulticolumnMapExpectation,
    )

    planned = []
    for position, spec in enumerate(expectations):
        type_name, kwargs = str(spec.type), dict(spec.kwargs)
        cls = _expectation_class(type_name, Expectation)
        name = describe(type_name, {key: value for key, value in kwargs.items() if key != "meta"})
        item = Planned(position, type_name, kwargs, name, Mode.TABLE, (), False)
        try:
            item.build()
        except Exception as error:  # pydantic's ValidationError, TypeError, GX's own errors
            raise ConfigurationError(
                f"expectation #{position + 1} {item.name} is invalid: {_first_line(error)}"
            ) from None
        row_level = issubclass(
            cls, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
        )
        mode = _mode(cls, type_name, kwargs, row_level)
        columns = _columns(kwargs) if mode is not Mode.SCHEMA else ()
        if kwargs.get("row_condition") is not None:
            columns = ALL_COLUMNS
        planned.append(Planned(position, type_name, kwargs, item.name, mode, columns, row_level))
    return planned


def _expectation_class(type_name: str, base: type) -> type:
    import great_expectations as gx

    cls = getattr(gx.expectations, type_name, None)
    if not isinstance(cls, type) or not issubclass(cls, base) or cls is base:
        raise ConfigurationError(
            f"unknown Great Expectations expectation type {type_name!r}: "
            "use a class name from great_expectations.expectations, e.g. 'ExpectColumnValuesToNotBeNull'"
        )
    return cls


def _mode(cls: type, type_name: str, kwargs: Mapping[str, Any], row_level: bool) -> Mode:
    conditional = kwargs.get("row_condition") is not None
    if row_level:
        per_value = getattr(cls, "map_metric", None) in PER_VALUE_METRICS and "column" in kwargs
        return Mode.VALUE if per_value and not conditional else Mode.ROW
    if type_name in SCHEMA_TYPES and not conditional:
        return Mode.SCHEMA
    if type_name in ROW_COUNT_TYPES and not conditional:
        return Mode.ROW_COUNT
    return Mode.TABLE


def _columns(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for key in COLUMN_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, (list, tuple)):
            names.extend(str(item) for item in value)
    return tuple(dict.fromkeys(names))


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
