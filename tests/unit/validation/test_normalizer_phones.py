from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers.e164 import E164FastPath
from tests.unit.validation.normalizer_laws import ANY_VALUE, build, check_laws, reason

PHONE = build("phone")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The sandbox's clean and messy shapes (reliable_api.testing.sandbox.data).
        ("+12125550123", "+12125550123"),
        ("+442079460123", "+442079460123"),
        ("+493012345678", "+493012345678"),
        ("2125550123", "+12125550123"),
        ("(212) 555-0123", "+12125550123"),
        ("212.555.0123", "+12125550123"),
        (" +1 212 555 0123 ", "+12125550123"),
        ("\uff0b\uff11\uff12\uff11\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff13", "+12125550123"),
    ],
)
def test_phone_numbers_become_e164(value: str, expected: str) -> None:
    assert PHONE(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("212-555-CALL", "phone_contains_letters"),
        ("+1 212 55S 0123", "phone_contains_letters"),
        ("+1 (212) 555-0123 ext. 12", "phone_has_extension"),
        ("212.555.0123 x7", "phone_has_extension"),
        ("21255", "phone_too_short"),
        ("+1 212 555 0123 4567 89", "phone_too_long"),
        ("+999 1234567", "phone_invalid_country_code"),
        ("+1 212 055 0123", "phone_invalid_for_region"),
        ("212*555*0123", "not_a_phone_number"),
        ("", "missing"),
        (None, "missing"),
        (2125550123, "not_text"),
        ("9" * 5000, "too_long"),
    ],
)
def test_bad_phone_numbers_are_rejected_with_the_reason(value: object, expected: str) -> None:
    assert reason(PHONE(value)) == expected


def test_an_extension_can_be_dropped_instead() -> None:
    assert build("phone", extension="drop")("+1 (212) 555-0123 ext. 12") == "+12125550123"


def test_the_region_option_reads_national_numbers() -> None:
    assert build("phone", region="DE")("030 12345678") == "+493012345678"


@pytest.mark.parametrize("options", [{"region": "XX"}, {"extension": "keep"}, {"region": 1}])
def test_bad_options_are_contract_errors(options: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        build("phone", **options)


@given(ANY_VALUE | st.from_regex(r"\A\+?[0-9 ().x-]{0,20}\Z") | st.from_regex(r"\A\+[1-9][0-9]{6,14}\Z"))
@example("+12125550123")
def test_phone_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(PHONE, value)


def _full_path(text: str) -> str | None:
    """What parse + is_valid_number + format give: the E.164 text of a valid number, else None."""
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


FAST = E164FastPath()
COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_E164_LIKE = st.builds(
    lambda code, digits: f"+{code}{digits}", st.sampled_from(COUNTRY_CODES), st.from_regex(r"\A[0-9]{1,13}\Z")
)


def _example_numbers() -> list[str]:
    """A valid example number of every type of every region: the fast path must accept them."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, number_type)
            if number is not None:
                found.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return found


@given(_E164_LIKE | st.sampled_from(_example_numbers()) | st.from_regex(r"\A\+[0-9]{2,16}\Z"))
def test_the_e164_fast_path_answers_exactly_as_the_full_path(text: str) -> None:
    fast = FAST.check(text)
    # The fast path answers only "valid, and E.164 is the text itself"; it must never disagree.
    assert fast is None or fast == _full_path(text) == text


def test_the_fast_path_takes_most_valid_example_numbers() -> None:
    numbers = _example_numbers()
    for text in numbers:
        assert FAST.check(text) in (None, _full_path(text))
    taken = sum(FAST.check(text) is not None for text in numbers)
    assert taken > 0.8 * len(numbers)
