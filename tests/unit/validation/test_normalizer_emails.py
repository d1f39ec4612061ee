from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers.emails import PlainAddressFastPath
from tests.unit.validation.normalizer_laws import ANY_VALUE, build, check_laws, reason

EMAIL = build("email")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ada.becker12@example.com", "ada.becker12@example.com"),
        ("ADA.BECKER12@EXAMPLE.COM", "ADA.BECKER12@example.com"),
        ("  ada.becker12@example.co.uk ", "ada.becker12@example.co.uk"),
        ("Ada.Becker12@Mail.Example.Net", "Ada.Becker12@mail.example.net"),
        ("ada\u200b@example.com", "ada@example.com"),
    ],
)
def test_emails_are_trimmed_with_the_domain_lowercased(value: str, expected: str) -> None:
    assert EMAIL(value) == expected


def test_lowercase_local_lowercases_the_whole_address() -> None:
    assert build("email", lowercase_local=True)(" ADA@Example.COM") == "ada@example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The sandbox's messy emails (reliable_api.testing.sandbox.data._messy_email).
        ("ada@", "invalid_email"),
        ("ada.example.com", "invalid_email"),
        ("ada@@example.com", "invalid_email"),
        ("ada becker@example.com", "invalid_email"),
        ("ada@mailinator.com", "disposable_email"),
        ("ada@YOPMAIL.COM", "disposable_email"),
        ("ada@eu.mailinator.com", "disposable_email"),
        ("ada@localhost", "invalid_email"),
        ("ada@example.test", "invalid_email"),
        ("", "missing"),
        (None, "missing"),
        (42, "not_text"),
        ("a" * 5000 + "@example.com", "too_long"),
    ],
)
def test_bad_emails_are_rejected_with_the_reason(value: object, expected: str) -> None:
    assert reason(EMAIL(value)) == expected


def test_the_allow_list_accepts_a_disposable_domain() -> None:
    assert build("email", allow=["mailinator.com"])("ada@mailinator.com") == "ada@mailinator.com"
    assert build("email", reject_disposable=False)("ada@yopmail.com") == "ada@yopmail.com"


def test_bad_options_are_contract_errors() -> None:
    with pytest.raises(ContractError):
        build("email", allow="mailinator.com")


ADDRESSES = st.emails() | st.from_regex(
    r"\A[A-Za-z0-9._%+\-]{1,70}@[A-Za-z0-9.\-]{1,70}\.(com|CO|test|local|xn--p1ai|ab--cd|[a-z]{1,3}|[0-9]{2})\Z"
)


@given(ANY_VALUE | ADDRESSES | ADDRESSES.map(lambda a: f"  {a.upper()} "))
def test_email_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(EMAIL, value)
    check_laws(build("email", lowercase_local=True), value)


FAST = PlainAddressFastPath()


@given(ADDRESSES | st.from_regex(r"\A(info|SALES|Abuse)@[a-z]{1,5}\.[a-z]{2,4}\Z") | st.text(max_size=30))
def test_the_plain_address_fast_path_answers_exactly_as_email_validator(text: str) -> None:
    fast = FAST.check(text)
    if fast is None:
        return
    try:
        full = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        full = None
    assert fast == full
