"""Dates and date-times from the contract's input formats to ISO 8601, with pendulum.

Formats are tried in the order the contract declares them and the first that reads the value
wins: ``03/05/2021`` is 5 March under ``[MM/DD/YYYY, DD/MM/YYYY]`` and 3 May under the reverse
order. Nothing is guessed beyond that list. Besides pendulum format tokens (``DD.MM.YYYY``,
``MMMM D, YYYY``) a format can be ``iso8601``, ``epoch_seconds`` or ``epoch_milliseconds``.

Before the declared formats, a value already in the normalizer's own output form is read as
ISO 8601: normalizing twice then gives the same result as normalizing once.

- ``date`` fields give ``YYYY-MM-DD``. A date-time is accepted only at midnight, and its date is
  the one written (an epoch is read in the declared timezone); another time of day is rejected
  as ``has_time_of_day``, never cut off.
- ``datetime`` fields read a naive value in the declared ``timezone`` and give
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (``output: utc``, the default) or the same with the
  value's own offset (``output: keep``). A date alone is midnight in the declared timezone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timezone, tzinfo
from typing import Any

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers.base import (
    Defaults,
    Normalizer,
    NormalizerKind,
    UnicodeForm,
    option,
    text_input,
    unicode_form,
    word_list,
)
from reliable_api.validation.rejection import Rejection

ISO8601 = "iso8601"
EPOCH_SECONDS = "epoch_seconds"
EPOCH_MILLISECONDS = "epoch_milliseconds"
_EPOCH_DIVISORS = {EPOCH_SECONDS: 1, EPOCH_MILLISECONDS: 1000}
_EPOCH_TEXT = re.compile(r"-?\d{1,16}", re.ASCII)
_OUTPUT_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Historic zone offsets have seconds (Paris before 1911: +00:09:21), and ``output: keep`` writes them.
_OUTPUT_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(?:Z|[+-]\d{2}:\d{2}(?::\d{2})?)", re.ASCII
)
_OUTPUT_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)
# What pendulum and datetime raise for text that does not fit a format or a calendar.
_UNREADABLE = (ValueError, OverflowError, OSError)

Reader = Callable[[str], "date | None"]


def _iso_reader() -> Reader:
    from pendulum.parsing import parse_iso8601

    def read(text: str) -> date | None:
        parsed = parse_iso8601(text)
        # Durations and bare times are ISO 8601 too, but not a date.
        return parsed if isinstance(parsed, date) else None

    return read


def _token_reader(fmt: str, zone: tzinfo) -> Reader:
    """``pendulum.from_format`` with ``fmt``, behind a cheap filter that cannot refuse a match.

    from_format costs tens of µs even to say no. A text it reads contains each of the format's
    separators (``/`` of ``MM/DD/YYYY``), so a text without one is refused without calling it.
    A format with a ``[literal]`` is not filtered (its brackets are not in the text).
    """
    import pendulum

    separators = frozenset(char for char in fmt if not char.isalnum()) if "[" not in fmt else frozenset()

    def read(text: str) -> date | None:
        if not separators.issubset(text):
            return None
        return pendulum.from_format(text, fmt, tz=zone)  # type: ignore[arg-type]

    return read


def _own_datetime(text: str) -> datetime:
    """Read the datetime normalizer's own output (``fromisoformat`` takes ``Z`` only from 3.11)."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _from_epoch(number: float, divisor: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(number / divisor, tz=timezone.utc).astimezone(zone)


class _Reader:
    """Reads a value with the declared formats, in order; ``None`` when none reads it."""

    def __init__(
        self, formats: tuple[str, ...], zone: tzinfo, output_form: re.Pattern[str], own: Reader
    ) -> None:
        self.zone = zone
        self.output_form = output_form
        self.own = own
        self.iso = _iso_reader()
        self.epochs = [_EPOCH_DIVISORS[fmt] for fmt in formats if fmt in _EPOCH_DIVISORS]
        self.texts: list[tuple[str, Reader | int]] = [
            (fmt, _EPOCH_DIVISORS[fmt])
            if fmt in _EPOCH_DIVISORS
            else (fmt, self.iso if fmt == ISO8601 else _token_reader(fmt, zone))
            for fmt in formats
        ]

    def number(self, value: float) -> date | None:
        for divisor in self.epochs:
            try:
                return _from_epoch(value, divisor, self.zone)
            except _UNREADABLE:
                continue
        return None

    def text(self, text: str) -> date | None:
        if self.output_form.fullmatch(text):
            try:
                return self.own(text)
            except _UNREADABLE:
                pass
        for _fmt, reader in self.texts:
            try:
                if isinstance(reader, int):
                    if _EPOCH_TEXT.fullmatch(text):
                        return _from_epoch(int(text), reader, self.zone)
                    continue
                parsed = reader(text)
            except _UNREADABLE:
                continue
            if parsed is not None:
                return parsed
        return None


def _settings(options: Mapping[str, Any], defaults: Defaults) -> tuple[tuple[str, ...], tzinfo, int, int]:
    import pendulum

    formats = word_list(options, "formats", defaults.date_formats)
    if not formats:
        raise ContractError("option 'formats' must name at least one input format")
    zone_name = option(options, "timezone", str, defaults.timezone)
    try:
        zone = pendulum.timezone(zone_name)
    except (ValueError, KeyError, OSError):  # OSError: a folder of zones such as "US"
        raise ContractError(f"unknown timezone {zone_name!r}") from None
    min_year = option(options, "min_year", int, 1)
    max_year = option(options, "max_year", int, 9999)
    if not 1 <= min_year <= max_year <= 9999:
        raise ContractError(
            f"year bounds must satisfy 1 <= min_year <= max_year <= 9999, not {min_year}..{max_year}"
        )
    return formats, zone, min_year, max_year


def _read_any(field: str, value: Any, reader: _Reader, form: UnicodeForm) -> date | Rejection:
    if type(value) in (int, float):
        if not math.isfinite(value):
            return Rejection(field, value, "not_a_date", "NaN or infinite")
        parsed = reader.number(value)
        detail = "a number, and no epoch format is declared" if not reader.epochs else "epoch out of range"
    else:
        text = text_input(field, value, form)
        if isinstance(text, Rejection):
            return text
        parsed = reader.text(text)
        detail = "matches none of the declared formats"
    return Rejection(field, value, "not_a_date", detail) if parsed is None else parsed


def _out_of_bounds(field: str, value: Any, year: int, low: int, high: int) -> Rejection | None:
    if low <= year <= high:
        return None
    return Rejection(field, value, "date_out_of_range", f"year {year} not in {low}..{high}")


def _in_output_form(
    field: str, value: Any, form: re.Pattern[str], read: Reader, low: int, high: int
) -> str | Rejection | None:
    """For text already in the output ``form`` and on the calendar: itself, or its bounds rejection.

    ``None`` when it is not (then the declared formats decide). This is the common case of data
    that is already clean, answered without pendulum.
    """
    if type(value) is not str or not form.fullmatch(value):
        return None
    try:
        moment = read(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return _out_of_bounds(field, value, moment.year, low, high) or value


def build_date(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """A calendar date as ``YYYY-MM-DD``; see the module docstring for the rules.

    Options: ``formats`` (default: the contract's ``date_formats``), ``timezone`` (for epochs),
    ``min_year``, ``max_year``, ``unicode_form``.
    """
    formats, zone, low, high = _settings(options, defaults)
    reader = _Reader(formats, zone, _OUTPUT_DATE, date.fromisoformat)
    form = unicode_form(options, defaults)

    def normalize(value: Any) -> Any:
        unchanged = _in_output_form(field, value, _OUTPUT_DATE, date.fromisoformat, low, high)
        if unchanged is not None:
            return unchanged
        parsed = _read_any(field, value, reader, form)
        if isinstance(parsed, Rejection):
            return parsed
        if isinstance(parsed, datetime):
            if parsed.timetz().replace(tzinfo=None) != time():
                return Rejection(field, value, "has_time_of_day", f"{parsed.time()} is not midnight")
            parsed = parsed.date()
        return _out_of_bounds(field, value, parsed.year, low, high) or parsed.isoformat()

    return normalize


def build_datetime(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """An instant as ISO 8601 with microseconds; see the module docstring for the rules.

    Options: those of :func:`build_date`, and ``output``: ``utc`` (default) or ``keep``.
    """
    formats, zone, low, high = _settings(options, defaults)
    output = option(options, "output", str, "utc")
    if output not in ("utc", "keep"):
        raise ContractError(f"option 'output' must be 'utc' or 'keep', not {output!r}")
    reader = _Reader(formats, zone, _OUTPUT_DATETIME, _own_datetime)
    form = unicode_form(options, defaults)

    def normalize(value: Any) -> Any:
        if output == "utc":
            unchanged = _in_output_form(field, value, _OUTPUT_UTC, _own_datetime, low, high)
            if unchanged is not None:
                return unchanged
        parsed = _read_any(field, value, reader, form)
        if isinstance(parsed, Rejection):
            return parsed
        moment = parsed if isinstance(parsed, datetime) else datetime.combine(parsed, time())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        try:
            if output == "utc":
                moment = moment.astimezone(timezone.utc)
            text = moment.isoformat(timespec="microseconds")
        except _UNREADABLE:
            return Rejection(field, value, "date_out_of_range", "outside the years 1..9999 in UTC")
        if output == "utc":
            text = text[:-6] + "Z"
        return _out_of_bounds(field, value, moment.year, low, high) or text

    return normalize


_OPTIONS = frozenset({"formats", "timezone", "min_year", "max_year", "unicode_form"})
DATE = NormalizerKind("date", frozenset({"date"}), _OPTIONS, build_date)
DATETIME = NormalizerKind("datetime", frozenset({"datetime"}), _OPTIONS | {"output"}, build_datetime)
