"""Phone numbers to E.164 with phonenumbers and the contract's default region.

Letters (``212-555-CALL``), too few or too many digits and numbers that are not valid where they
belong are rejected with a reason that says which. An extension (``ext. 12``, ``x12``) cannot be
written in E.164: it is rejected by default, or dropped with ``extension: drop``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers.base import (
    Defaults,
    Normalizer,
    NormalizerKind,
    option,
    text_input,
    unicode_form,
)
from reliable_api.validation.normalizers.e164 import E164FastPath
from reliable_api.validation.rejection import Rejection

_EXTENSION = re.compile(r"\s*(?:,|;|#|x|ext\.?|extension)\s*\d{1,7}\s*$", re.IGNORECASE)
_PUNCTUATION = frozenset(" +-().\\/")


def _reasons() -> tuple[dict[Any, str], dict[Any, str]]:
    """Rejection reasons for phonenumbers' parse errors and possibility results."""
    from phonenumbers import NumberParseException, ValidationResult

    parse = {
        NumberParseException.INVALID_COUNTRY_CODE: "phone_invalid_country_code",
        NumberParseException.NOT_A_NUMBER: "not_a_phone_number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "phone_too_short",
        NumberParseException.TOO_SHORT_NSN: "phone_too_short",
        NumberParseException.TOO_LONG: "phone_too_long",
    }
    possible = {
        ValidationResult.INVALID_COUNTRY_CODE: "phone_invalid_country_code",
        ValidationResult.TOO_SHORT: "phone_too_short",
        ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "phone_too_short",
        ValidationResult.TOO_LONG: "phone_too_long",
        ValidationResult.INVALID_LENGTH: "phone_invalid_length",
    }
    return parse, possible


def build_phone(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """A phone number as E.164 (``+4930123456``).

    Options: ``region`` (for numbers without a country code; default the contract's
    ``phone_region``, required one way or the other), ``extension`` (``reject`` or ``drop``),
    ``unicode_form``.
    """
    import phonenumbers

    region = option(options, "region", str, defaults.phone_region or "")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ContractError(f"phone region {region!r} is not a region phonenumbers knows (e.g. 'US', 'DE')")
    extension = option(options, "extension", str, "reject")
    if extension not in ("reject", "drop"):
        raise ContractError(f"option 'extension' must be 'reject' or 'drop', not {extension!r}")
    form = unicode_form(options, defaults)
    parse_reasons, possible_reasons = _reasons()
    fast = E164FastPath().check
    e164 = phonenumbers.PhoneNumberFormat.E164

    def full_path(value: Any, text: str) -> Any:
        found = _EXTENSION.search(text)
        if found:
            if extension == "reject":
                return Rejection(field, value, "phone_has_extension", "E.164 cannot hold an extension")
            text = text[: found.start()]
        if any(char.isalpha() for char in text):
            return Rejection(field, value, "phone_contains_letters")
        if not all(char.isdecimal() or char in _PUNCTUATION for char in text):
            return Rejection(
                field, value, "not_a_phone_number", "characters other than digits and punctuation"
            )
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as error:
            return Rejection(
                field, value, parse_reasons.get(error.error_type, "not_a_phone_number"), str(error)
            )
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible in possible_reasons:
            return Rejection(field, value, possible_reasons[possible])
        if not phonenumbers.is_valid_number(number):
            where = phonenumbers.region_code_for_country_code(number.country_code or 0)
            return Rejection(field, value, "phone_invalid_for_region", f"not a valid number in {where}")
        return phonenumbers.format_number(number, e164)

    def normalize(value: Any) -> Any:
        text = text_input(field, value, form)
        if type(text) is not str:
            return text
        return fast(text) or full_path(value, text)

    return normalize


PHONE = NormalizerKind(
    "phone", frozenset({"phone"}), frozenset({"region", "extension", "unicode_form"}), build_phone
)
