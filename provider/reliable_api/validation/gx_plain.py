"""Plain Python out of what Great Expectations and pandas return, and short names for expectations.

Nothing here imports numpy or pandas: numpy scalars and arrays are recognised by their
``tolist()`` method, NaN and NaT by not being equal to themselves.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sys
from collections.abc import Mapping
from typing import Any

#: How many characters of a kwarg value a description keeps.
MAX_KWARG_CHARS = 40
#: How many characters of an example value a summary keeps.
MAX_EXAMPLE_CHARS = 200


def to_plain(value: Any) -> Any:
    """Return ``value`` as JSON-ready Python.

    NaN, NaT and NA become ``None``, numpy scalars and arrays Python numbers and lists, dates
    ISO 8601 strings, other objects their ``str``.
    """
    # Exact types first; subclasses (numpy.float64 is a float, numpy.str_ a str) are converted.
    if value is None or type(value) in (bool, str, int):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        # pandas.NaT is a datetime that is not equal to itself.
        return None if value != value else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return None if value.is_nan() else str(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy scalars and arrays, pandas arrays
        return to_plain(tolist())
    pandas = sys.modules.get("pandas")  # only pandas makes pandas.NA; never import it here
    if pandas is not None and value is pandas.NA:
        return None
    return str(value)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def describe(type_name: str, kwargs: Mapping[str, Any]) -> str:
    """A short, stable name of an expectation: its type and kwargs, long values shortened.

    ``ExpectColumnValuesToMatchRegex(column='email', regex='^[a-z0-9._%+-]+@…')``
    """
    parts = [f"{name}={shorten(repr(to_plain(value)), MAX_KWARG_CHARS)}" for name, value in kwargs.items()]
    return f"{type_name}({', '.join(parts)})"


def example(value: Any) -> Any:
    """An example value fit for a summary: plain Python, long strings shortened."""
    plain = to_plain(value)
    return shorten(plain, MAX_EXAMPLE_CHARS) if isinstance(plain, str) else plain
