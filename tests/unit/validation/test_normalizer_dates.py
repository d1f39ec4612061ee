from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers.dates import _token_reader
from tests.unit.validation.normalizer_laws import ANY_VALUE, build, check_laws, reason

DATE = build("date")
DATETIME = build("datetime")


@pytest.mark.parametrize(
    "value",
    [
        # Every shape the sandbox writes a date in (reliable_api.testing.sandbox.data._messy_date).
        "2021-03-05",
        "03/05/2021",
        "05.03.2021",
        "2021-03-05T00:00:00+00:00",
        1614902400,
        "1614902400",
        "March 5, 2021",
        " 2021-03-05 ",
        "2021-03-05\u200b",
    ],
)
def test_dates_in_the_declared_formats_become_iso(value: object) -> None:
    assert DATE(value) == "2021-03-05"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not a date", "not_a_date"),
        ("31/31/2020", "not_a_date"),
        ("0000-00-00", "not_a_date"),
        ("yesterday", "not_a_date"),
        ("N/A", "not_a_date"),
        ("2021-13-45", "not_a_date"),
        ("", "missing"),
        (None, "missing"),
        (float("nan"), "not_a_date"),
        (True, "not_text"),
        ("2021-03-05T10:30:00+00:00", "has_time_of_day"),
        ("1" * 5000, "too_long"),
    ],
)
def test_garbage_dates_are_rejected_with_the_reason(value: object, expected: str) -> None:
    assert reason(DATE(value)) == expected


def test_an_ambiguous_date_takes_the_first_declared_format() -> None:
    month_first = build("date", formats=["MM/DD/YYYY", "DD/MM/YYYY"])
    day_first = build("date", formats=["DD/MM/YYYY", "MM/DD/YYYY"])
    assert month_first("03/05/2021") == "2021-03-05"
    assert day_first("03/05/2021") == "2021-05-03"
    # Unambiguous values read the same whatever the order.
    assert month_first("13/05/2021") == day_first("13/05/2021") == "2021-05-13"


def test_a_number_without_an_epoch_format_is_rejected_not_guessed() -> None:
    assert reason(build("date", formats=["iso8601"])(1614902400)) == "not_a_date"


def test_epoch_milliseconds_when_declared() -> None:
    assert build("date", formats=["epoch_milliseconds"])(1614902400000) == "2021-03-05"


def test_year_bounds() -> None:
    normalize = build("date", min_year=1900, max_year=2030)
    assert reason(normalize("1850-01-01")) == "date_out_of_range"
    assert reason(normalize("01/01/2031")) == "date_out_of_range"
    assert normalize("1900-01-01") == "1900-01-01"


def test_naive_datetimes_are_read_in_the_declared_zone_and_written_in_utc() -> None:
    paris = build("datetime", timezone="Europe/Paris")
    assert paris("2021-03-05T10:00:00") == "2021-03-05T09:00:00.000000Z"
    assert paris("2021-07-05T10:00:00") == "2021-07-05T08:00:00.000000Z"
    assert paris("2021-03-05T10:00:00+02:00") == "2021-03-05T08:00:00.000000Z"
    assert paris("03/05/2021") == "2021-03-04T23:00:00.000000Z"


def test_output_keep_keeps_the_offset() -> None:
    keep = build("datetime", timezone="Europe/Paris", output="keep")
    assert keep("2021-03-05T10:00:00") == "2021-03-05T10:00:00.000000+01:00"
    assert keep("2021-03-05T10:00:00-05:00") == "2021-03-05T10:00:00.000000-05:00"


def test_sandbox_timestamps_are_kept_as_they_are() -> None:
    assert DATETIME("2026-10-31T23:59:59.123456Z") == "2026-10-31T23:59:59.123456Z"
    assert reason(DATETIME("2026-02-30T23:59:59.123456Z")) == "not_a_date"


@pytest.mark.parametrize(
    "options",
    [
        {"timezone": "Mars/Olympus"},
        {"formats": []},
        {"min_year": 2000, "max_year": 1999},
        {"output": "local"},
    ],
)
def test_bad_options_are_contract_errors(options: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        build("datetime", **options)


DATES = st.dates(min_value=dt.date(1, 1, 1))
FORMATTED = st.one_of(
    DATES.map(dt.date.isoformat),
    DATES.map(lambda d: f"{d.month:02d}/{d.day:02d}/{d.year:04d}"),
    DATES.map(lambda d: f"{d.day:02d}.{d.month:02d}.{d.year:04d}"),
    DATES.map(lambda d: d.strftime("%B %-d, %Y")),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.from_regex(r"\A[0-9./ :T+-]{4,30}\Z"),
)


@given(ANY_VALUE | FORMATTED)
def test_date_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(DATE, value)


@given(ANY_VALUE | FORMATTED)
def test_datetime_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(DATETIME, value)


@given(ANY_VALUE | FORMATTED)
def test_datetime_keeping_offsets_never_raises_and_is_idempotent(value: object) -> None:
    check_laws(build("datetime", timezone="America/New_York", output="keep"), value)


TOKEN_FORMATS = ["MM/DD/YYYY", "DD.MM.YYYY", "MMMM D, YYYY", "D MMM YYYY HH:mm", "YYYY-MM-DD[T]HH"]
DATE_LIKE = st.from_regex(r"\A[0-9 ./,:+T-]{0,14}\Z") | st.builds(
    lambda month, rest: month + rest,
    st.sampled_from(["March ", "Mar ", "march", ""]),
    st.from_regex(r"\A[0-9 ,.:/]{0,10}\Z"),
)


@given(st.sampled_from(TOKEN_FORMATS), DATE_LIKE | FORMATTED.filter(lambda v: isinstance(v, str)))
def test_the_separator_filter_never_refuses_what_pendulum_reads(fmt: str, text: str) -> None:
    try:
        expected = pendulum.from_format(text, fmt, tz="UTC")
    except ValueError:
        expected = None
    try:
        filtered = _token_reader(fmt, pendulum.timezone("UTC"))(text)
    except ValueError:  # the date normalizer catches this: no format read the text
        filtered = None
    assert filtered == expected
