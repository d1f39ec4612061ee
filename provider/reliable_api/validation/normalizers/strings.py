"""Free text and enumerations: trimmed, whitespace collapsed, cased, mapped to canonical values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

_CASINGS: dict[str, Callable[[str], str]] = {
    "keep": lambda text: text,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
}
#: Text longer than this without a ``max_length`` is still rejected: a field of megabytes is a
#: broken export, not a name.
MAX_TEXT_CHARS = 100_000


def _collapse(text: str) -> str:
    return " ".join(text.split())


def build_string(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """Text trimmed, runs of whitespace made one space, cased, at most ``max_length`` characters.

    Options: ``casing`` (keep, lower, upper, title; default keep), ``max_length`` (longer text is
    rejected, never cut), ``unicode_form`` (NFC or NFKC). Non-text values are rejected.
    """
    casing_name = option(options, "casing", str, "keep")
    if casing_name not in _CASINGS:
        raise ContractError(f"option 'casing' must be one of {sorted(_CASINGS)}, not {casing_name!r}")
    casing = _CASINGS[casing_name]
    max_length = option(options, "max_length", int, MAX_TEXT_CHARS)
    form = unicode_form(options, defaults)

    def normalize(value: Any) -> Any:
        text = text_input(field, value, form, MAX_TEXT_CHARS)
        if type(text) is not str:
            return text
        result = casing(_collapse(text))
        if not result.isascii():
            # Casing can leave text outside the form (e.g. "İ".lower()); normalize once more.
            result = _collapse(text_input(field, result, form, MAX_TEXT_CHARS))  # type: ignore[arg-type]
        if len(result) > max_length:
            return Rejection(field, value, "too_long", f"{len(result)} characters, at most {max_length}")
        return result

    return normalize


def build_enum(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """One of the declared ``values``, matched case-insensitively, with ``synonyms`` mapped to them.

    Options: ``values`` (the canonical values, required), ``synonyms`` (a mapping from another
    spelling to a canonical value). Anything else is rejected as ``not_in_enum``.
    """
    values = word_list(options, "values", ())
    if not values:
        raise ContractError("option 'values' is required: the list of canonical values")
    synonyms = option(options, "synonyms", dict, {})
    lookup = {_collapse(value).casefold(): value for value in values}
    for synonym, canonical in synonyms.items():
        if canonical not in values:
            raise ContractError(f"synonym {synonym!r} maps to {canonical!r}, which is not one of 'values'")
        lookup[_collapse(str(synonym)).casefold()] = canonical
    form = unicode_form(options, defaults)

    def normalize(value: Any) -> Any:
        text = text_input(field, value, form)
        if type(text) is not str:
            return text
        canonical = lookup.get(_collapse(text).casefold())
        if canonical is None:
            return Rejection(field, value, "not_in_enum", f"not one of {', '.join(values)}")
        return canonical

    return normalize


STRING = NormalizerKind(
    "string", frozenset({"string"}), frozenset({"casing", "max_length", "unicode_form"}), build_string
)
ENUM = NormalizerKind(
    "enum", frozenset({"enum", "string"}), frozenset({"values", "synonyms", "unicode_form"}), build_enum
)
