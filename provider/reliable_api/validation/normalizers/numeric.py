"""Integers, decimal numbers and booleans, read with the contract's separators and words."""

from __future__ import annotations

import math
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
    word_list,
)
from reliable_api.validation.rejection import Rejection

#: More digits than any real quantity has; also keeps ``int()`` far from its 4300-digit limit.
MAX_DIGITS = 40
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off")


def _number_pattern(decimal: str, thousands: str | None) -> re.Pattern[str]:
    """Digits, optionally grouped by threes with ``thousands``, optionally a ``decimal`` part."""
    grouped = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|" if thousands else ""
    return re.compile(rf"([+-]?)({grouped}\d+)(?:{re.escape(decimal)}(\d+))?", re.ASCII)


def _separators(options: Mapping[str, Any], defaults: Defaults) -> tuple[str, str | None]:
    decimal = option(options, "decimal_separator", str, defaults.decimal_separator)
    thousands = option(options, "thousands_separator", (str, type(None)), defaults.thousands_separator)
    if len(decimal) != 1 or decimal.isdigit() or decimal == thousands:
        raise ContractError(
            f"decimal separator {decimal!r} must be one non-digit character, not the thousands separator"
        )
    return decimal, thousands


def build_number(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """A ``float`` from a number or from text with the declared separators (``1.234,5``).

    Options: ``decimal_separator``, ``thousands_separator`` (default: the contract's), ``integer``
    (set by the ``integer`` type: a fractional part other than zero is rejected). NaN, infinities
    and booleans are rejected.
    """
    decimal, thousands = _separators(options, defaults)
    integer = option(options, "integer", bool, False)
    pattern = _number_pattern(decimal, thousands)
    form = unicode_form(options, defaults)

    def finish(value: Any, number: float | int) -> Any:
        if not integer:
            try:
                return float(number)
            except OverflowError:
                return Rejection(field, value, "out_of_range", "too large for a float")
        if isinstance(number, float) and not number.is_integer():
            return Rejection(field, value, "not_an_integer")
        return int(number)

    def normalize(value: Any) -> Any:
        if type(value) is int:
            return finish(value, value)
        if type(value) is float:
            if math.isfinite(value):
                return finish(value, value)
            return Rejection(field, value, "not_a_number", "NaN or infinite")
        text = text_input(field, value, form, MAX_DIGITS * 2)
        if type(text) is not str:
            return text
        match = pattern.fullmatch(text)
        if match is None:
            return Rejection(field, value, "not_a_number", f"decimal separator {decimal!r}")
        sign, whole, fraction = match.groups()
        digits = whole.replace(thousands, "") if thousands else whole
        if len(digits) + len(fraction or "") > MAX_DIGITS:
            return Rejection(field, value, "too_long", f"more than {MAX_DIGITS} digits")
        if fraction is None or (integer and not fraction.strip("0")):
            return finish(value, int(sign + digits))
        return finish(value, float(f"{sign}{digits}.{fraction}"))

    return normalize


def build_integer(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """An ``int``: :func:`build_number` that rejects a fractional part other than zero."""
    return build_number(field, {**options, "integer": True}, defaults)


def build_boolean(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """``True`` or ``False`` from a bool, 0/1 or the declared words (case-insensitive).

    Options: ``true_words``, ``false_words`` (defaults: true/t/yes/y/1/on, false/f/no/n/0/off).
    """
    words = {word.casefold(): True for word in word_list(options, "true_words", TRUE_WORDS)}
    for word in word_list(options, "false_words", FALSE_WORDS):
        if word.casefold() in words:
            raise ContractError(f"word {word!r} is both in 'true_words' and in 'false_words'")
        words[word.casefold()] = False
    form = unicode_form(options, defaults)

    def normalize(value: Any) -> Any:
        if type(value) is bool:
            return value
        if type(value) is int and value in (0, 1):
            return bool(value)
        text = text_input(field, value, form)
        if type(text) is not str:
            return text
        answer = words.get(text.casefold())
        if answer is None:
            return Rejection(field, value, "not_a_boolean", "not one of the declared true or false words")
        return answer

    return normalize


_SEPARATORS = frozenset({"decimal_separator", "thousands_separator", "unicode_form"})
NUMBER = NormalizerKind("number", frozenset({"number"}), _SEPARATORS, build_number)
INTEGER = NormalizerKind("integer", frozenset({"integer"}), _SEPARATORS, build_integer)
BOOLEAN = NormalizerKind(
    "boolean", frozenset({"boolean"}), frozenset({"true_words", "false_words", "unicode_form"}), build_boolean
)
