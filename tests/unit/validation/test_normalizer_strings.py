from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ContractError
from tests.unit.validation.normalizer_laws import ANY_VALUE, build, check_laws, reason

STRING = build("string")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Ada\tLove\nlace", "Ada Love lace"),
        ("Zo\u200bë", "Zoë"),
        ("Zoe\u0301", "Zoé"),
        ("\ufb01sh", "fish"),
        ("Ada\u00a0Lovelace", "Ada Lovelace"),
    ],
)
def test_strings_are_trimmed_collapsed_and_normalized(value: str, expected: str) -> None:
    assert STRING(value) == expected


@pytest.mark.parametrize(
    ("casing", "expected"), [("lower", "ada lovelace"), ("upper", "ADA LOVELACE"), ("title", "Ada Lovelace")]
)
def test_casing(casing: str, expected: str) -> None:
    assert build("string", casing=casing)(" aDa  lovelace") == expected


def test_nfc_keeps_compatibility_characters() -> None:
    assert build("string", unicode_form="NFC")("\ufb01sh") == "\ufb01sh"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "missing"), ("   ", "missing"), ("\u200b", "missing"), (12, "not_text"), ("x" * 33, "too_long")],
)
def test_bad_strings_are_rejected(value: object, expected: str) -> None:
    assert reason(build("string", max_length=32)(value)) == expected


def test_huge_text_is_rejected_without_a_max_length() -> None:
    assert reason(STRING("x" * 200_000)) == "too_long"


STATUS = build("enum", values=["active", "churned"], synonyms={"Live": "active", "lost customer": "churned"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("active", "active"), (" ACTIVE ", "active"), ("live", "active"), ("Lost   Customer", "churned")],
)
def test_enums_map_synonyms_case_insensitively(value: str, expected: str) -> None:
    assert STATUS(value) == expected


def test_unknown_enum_values_are_rejected() -> None:
    assert reason(STATUS("paused")) == "not_in_enum"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("string", {"casing": "camel"}),
        ("string", {"max_length": "10"}),
        ("string", {"unicode_form": "NFD"}),
        ("enum", {}),
        ("enum", {"values": ["a"], "synonyms": {"b": "c"}}),
    ],
)
def test_bad_options_are_contract_errors(name: str, options: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        build(name, **options)


@given(ANY_VALUE, st.sampled_from(["keep", "lower", "upper", "title"]), st.sampled_from(["NFC", "NFKC"]))
def test_string_never_raises_and_is_idempotent(value: object, casing: str, form: str) -> None:
    check_laws(build("string", casing=casing, unicode_form=form), value)


@given(ANY_VALUE | st.sampled_from(["active", " Live ", "LOST CUSTOMER"]))
def test_enum_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(STATUS, value)
