"""What every normalizer shares: its signature, the contract defaults, options and text clean-up.

A normalizer is a callable built once per contract field: it takes any value and returns the
normalized value or a :class:`~reliable_api.validation.rejection.Rejection`. It never raises on bad
data; a bad *option* is a :class:`~reliable_api.exceptions.ContractError` when it is built.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from reliable_api.exceptions import ContractError
from reliable_api.validation.rejection import Rejection

Normalizer = Callable[[Any], Any]
T = TypeVar("T")
UnicodeForm = Literal["NFC", "NFKC"]

#: Inputs longer than this are rejected before any parsing: no phone number, email, date or
#: number is this long, and bounding the input bounds the work a hostile value can cause.
MAX_INPUT_CHARS = 1000

# Invisible characters that copy-and-paste leaves in CRM fields; removed, never kept.
_INVISIBLE = str.maketrans(dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad"))


@dataclass(frozen=True)
class Defaults:
    """Contract-wide settings that normalizers use when a field's options do not say.

    :param phone_region: ISO 3166 region for phone numbers written without a country code.
    :param timezone: IANA zone that naive dates and times are in.
    :param date_formats: input formats tried in this order (see :mod:`.dates`).
    :param decimal_separator: separator of the fractional part of numbers.
    :param thousands_separator: digit-group separator of numbers, or ``None`` for none.
    :param unicode_form: ``NFC`` or ``NFKC``, applied to text before anything else.
    """

    phone_region: str | None = None
    timezone: str = "UTC"
    date_formats: tuple[str, ...] = ("iso8601",)
    decimal_separator: str = "."
    thousands_separator: str | None = None
    unicode_form: str = "NFKC"


@dataclass(frozen=True)
class NormalizerKind:
    """A normalizer as contracts name it.

    :param name: the name a contract uses (``normalizer: phone``).
    :param serves: the field types it may be used for.
    :param options: the option names it accepts; any other is a contract error.
    :param build: ``build(field, options, defaults)`` returns the normalizer of one field.
    """

    name: str
    serves: frozenset[str]
    options: frozenset[str]
    build: Callable[[str, Mapping[str, Any], Defaults], Normalizer]


def option(options: Mapping[str, Any], name: str, kind: type[T] | tuple[type, ...], default: T) -> T:
    """The option ``name`` checked to be a ``kind``, or ``default`` when absent.

    :raises ContractError: when the value has another type (``bool`` is not an ``int`` here).
    """
    if name not in options:
        return default
    value = options[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise ContractError(f"option {name!r} must be {expected}, not {value!r}")
    return value  # type: ignore[return-value]


def word_list(options: Mapping[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """The option ``name`` as a tuple of strings, or ``default``.

    :raises ContractError: when it is not a list of strings.
    """
    value = options.get(name, list(default))
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ContractError(f"option {name!r} must be a list of strings, not {value!r}")
    return tuple(value)


def clean_text(value: str, form: UnicodeForm) -> str:
    """``value`` without invisible characters, in Unicode ``form``, stripped.

    Invisible characters go first: removed later, they could leave a string that is no longer in
    ``form``. ASCII text is already in every form and has none: it is only stripped.
    """
    if value.isascii():
        return value.strip()
    return unicodedata.normalize(form, value.translate(_INVISIBLE)).strip()


def text_input(
    field: str, value: Any, form: UnicodeForm, max_chars: int = MAX_INPUT_CHARS
) -> str | Rejection:
    """``value`` cleaned by :func:`clean_text`, or the rejection of a non-text, blank or huge one."""
    if type(value) is not str:
        if value is None:
            return Rejection(field, value, "missing")
        return Rejection(field, value, "not_text", f"expected text, got {type(value).__name__}")
    if len(value) > max_chars:
        return Rejection(field, value, "too_long", f"{len(value)} characters, at most {max_chars}")
    text = clean_text(value, form)
    if not text:
        return Rejection(field, value, "missing")
    return text


def unicode_form(options: Mapping[str, Any], defaults: Defaults) -> UnicodeForm:
    """The ``unicode_form`` option (or default), checked.

    :raises ContractError: for a form other than NFC or NFKC.
    """
    form = option(options, "unicode_form", str, defaults.unicode_form)
    if form not in ("NFC", "NFKC"):
        raise ContractError(f"option 'unicode_form' must be NFC or NFKC, not {form!r}")
    return "NFC" if form == "NFC" else "NFKC"
