"""Helpers for the normalizer tests: build a normalizer as a contract would, and check its laws."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from reliable_api.validation.normalizers import NORMALIZERS, Defaults, Normalizer
from reliable_api.validation.rejection import Rejection

SANDBOX_DEFAULTS = Defaults(
    phone_region="US",
    timezone="UTC",
    date_formats=("iso8601", "MM/DD/YYYY", "DD.MM.YYYY", "MMMM D, YYYY", "epoch_seconds"),
)

#: Anything a JSON record or a careless caller can hand a normalizer.
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(max_size=8).map(lambda text: f"\u200b{text}\ufeff\u00a0"),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just("9" * 200_000),
)


def build(name: str, defaults: Defaults = SANDBOX_DEFAULTS, **options: Any) -> Normalizer:
    """The named normalizer for a field ``f``, with the sandbox contract's defaults."""
    return NORMALIZERS[name].build("f", options, defaults)


def _same(a: Any, b: Any) -> bool:
    return (
        a is b
        or a == b
        or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    )


def check_laws(normalize: Normalizer, value: Any) -> Any:
    """Normalize ``value`` and check the laws every normalizer keeps; return the result.

    No exception; a rejection names the field, has a reason and keeps the value as received; an
    accepted value normalizes to itself (normalizing twice equals normalizing once).
    """
    result = normalize(value)
    if isinstance(result, Rejection):
        assert result.field == "f"
        assert result.reason
        assert _same(result.value, value)
    else:
        again = normalize(result)
        assert again == result, f"{value!r} -> {result!r} -> {again!r}"
    return result


def reason(result: Any) -> str:
    """A result's rejection reason, or ``"ok"`` for an accepted value."""
    return result.reason if isinstance(result, Rejection) else "ok"
