from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers import Defaults
from tests.unit.validation.normalizer_laws import ANY_VALUE, build, check_laws, reason

EUROPEAN = Defaults(decimal_separator=",", thousands_separator=".")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The sandbox's company sizes (reliable_api.testing.sandbox.data._spoil_company).
        (12000, 12000),
        ("12,000", 12000),
        (" 7 ", 7),
        ("-3", -3),
        (12.0, 12),
        ("12.00", 12),
    ],
)
def test_integers(value: object, expected: int) -> None:
    assert build("integer", thousands_separator=",")(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("50-100", "not_a_number"), ("unknown", "not_a_number"), (None, "missing"), ("1.5", "not_an_integer"),
     (True, "not_text"), ("12,00", "not_a_number"), ("9" * 100, "too_long")],
)  # fmt: skip
def test_bad_integers_are_rejected(value: object, expected: str) -> None:
    assert reason(build("integer", thousands_separator=",")(value)) == expected


def test_numbers_with_the_declared_separators() -> None:
    number = build("number", defaults=EUROPEAN)
    assert number("1.234,5") == 1234.5
    assert number("0,25") == 0.25
    assert reason(number("1,234.5")) == "not_a_number"
    assert reason(number(float("nan"))) == "not_a_number"
    assert reason(number(float("inf"))) == "not_a_number"


@pytest.mark.parametrize(
    ("value", "expected"), [("Yes", True), (" n ", False), (1, True), (False, False), ("on", True)]
)
def test_booleans(value: object, expected: bool) -> None:
    assert build("boolean")(value) is expected


def test_declared_boolean_words() -> None:
    boolean = build("boolean", true_words=["ja"], false_words=["nein"])
    assert boolean("JA") is True
    assert reason(boolean("yes")) == "not_a_boolean"
    assert reason(boolean(2)) == "not_text"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("number", {"decimal_separator": ""}),
        ("number", {"decimal_separator": ",", "thousands_separator": ","}),
        ("boolean", {"true_words": ["x"], "false_words": ["X"]}),
    ],
)
def test_bad_options_are_contract_errors(name: str, options: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        build(name, **options)


NUMBERS = ANY_VALUE | st.from_regex(r"\A[+-]?[0-9.,]{1,20}\Z") | st.integers().map(str)


@given(NUMBERS, st.sampled_from(["integer", "number"]), st.booleans())
def test_numbers_never_raise_and_are_idempotent(value: object, name: str, european: bool) -> None:
    check_laws(build(name, defaults=EUROPEAN) if european else build(name, thousands_separator=","), value)


@given(ANY_VALUE | st.sampled_from(["yes", "NO", " t "]))
def test_boolean_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(build("boolean"), value)
