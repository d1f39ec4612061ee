from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.http.headers import (
    Link,
    RateLimitInfo,
    legacy_reset_after,
    parse_link_header,
    parse_rate_limit_headers,
    parse_retry_after,
    split_outside_quotes,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
EPOCH_NOW = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("  7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),  # IMF-fixdate
        ("Saturday, 01-Mar-25 12:01:00 GMT", 60.0),  # obsolete RFC 850
        ("Sat Mar  1 12:00:05 2025", 5.0),  # obsolete asctime, read as GMT
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past
        ("Sat, 01 Mar 2025 12:00:30 -0000", 30.0),
        ("", None),
        ("soon", None),
        ("12 seconds", None),
        ("1e3", None),
        ("nan", None),
        ("inf", None),
        ("9" * 400, None),  # overflows to infinity: unreadable, not infinite
        ("Sat, 32 Mar 2025 12:00:30 GMT", None),
        ("٣", None),  # non-ASCII digits are not delta-seconds
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now=NOW.replace(tzinfo=None)) == 30.0


def test_parse_retry_after_defaults_to_the_current_time() -> None:
    value = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    wait = parse_retry_after(value)
    assert wait is not None
    assert 3500 < wait <= 3600


@given(st.text())
def test_parse_retry_after_never_raises_nor_returns_negative_or_nan(value: str) -> None:
    wait = parse_retry_after(value, now=NOW)
    assert wait is None or (math.isfinite(wait) and wait >= 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (str(EPOCH_NOW + 42), 42.0),  # epoch seconds
        (f"{EPOCH_NOW + 42}.5", 42.5),
        (str((EPOCH_NOW + 7) * 1000), 7.0),  # epoch milliseconds
        (str(EPOCH_NOW - 100), 0.0),  # a reset in the past
        ("1000000000", 1e9),  # at the threshold: still a delay
        ("-1", None),
        ("x", None),
        (None, None),
    ],
)
def test_legacy_reset_after_tells_epoch_from_delay(value: str | None, expected: float | None) -> None:
    assert legacy_reset_after(value, now=NOW) == expected


def test_ietf_structured_fields_joined_by_policy_name() -> None:
    info = parse_rate_limit_headers(
        {"RateLimit-Policy": '"default";q=100;w=60', "RateLimit": '"default";r=50;t=30'}, now=NOW
    )
    assert info == RateLimitInfo(limit=100, window=60.0, remaining=50, reset_after=30.0)
    assert info.policy_interval == 0.6
    assert info.suggested_wait is None


def test_header_names_match_case_insensitively() -> None:
    info = parse_rate_limit_headers({"ratelimit-policy": '"p";q=10;w=1', "RATELIMIT": '"p";r=0;t=1'}, now=NOW)
    assert (info.limit, info.remaining) == (10, 0)


def test_the_policy_needing_the_slowest_pace_binds() -> None:
    policy = '"minute";q=100;w=60, "day";q=1000;w=86400'
    # 900 left for 80000 s is 89 s per request: the daily quota binds.
    info = parse_rate_limit_headers(
        {"RateLimit-Policy": policy, "RateLimit": '"minute";r=50;t=30, "day";r=900;t=80000'}, now=NOW
    )
    assert (info.limit, info.window, info.remaining, info.reset_after) == (1000, 86400.0, 900, 80000.0)
    # The day is about to reset with plenty left: the minute binds.
    info = parse_rate_limit_headers(
        {"RateLimit-Policy": policy, "RateLimit": '"minute";r=5;t=30, "day";r=999;t=10'}, now=NOW
    )
    assert (info.limit, info.remaining) == (100, 5)


def test_a_spent_quota_binds_and_the_latest_reset_wins() -> None:
    info = parse_rate_limit_headers(
        {
            "RateLimit-Policy": '"a";q=10;w=1, "b";q=100;w=60, "c";q=1000;w=3600',
            "RateLimit": '"a";r=0;t=1, "b";r=0;t=40, "c";r=500;t=3000',
        },
        now=NOW,
    )
    assert (info.limit, info.remaining, info.reset_after) == (100, 0, 40.0)
    assert info.suggested_wait == 40.0


def test_without_status_the_slowest_quota_binds() -> None:
    info = parse_rate_limit_headers({"RateLimit-Policy": '"a";q=10;w=1, "b";q=100;w=3600'}, now=NOW)
    assert (info.limit, info.window, info.remaining) == (100, 3600.0, None)


def test_older_draft_dictionary_and_integer_policy() -> None:
    info = parse_rate_limit_headers(
        {"RateLimit-Policy": "100;w=60, 1000;w=3600", "RateLimit": "limit=100, remaining=0, reset=30"},
        now=NOW,
    )
    assert info == RateLimitInfo(limit=100, window=60.0, remaining=0, reset_after=30.0)


def test_older_draft_separate_headers() -> None:
    info = parse_rate_limit_headers(
        {
            "RateLimit-Limit": "100, 100;w=60",
            "RateLimit-Remaining": "7",
            "RateLimit-Reset": "12",
            "RateLimit-Policy": "100;w=60",
        },
        now=NOW,
    )
    assert info == RateLimitInfo(limit=100, window=60.0, remaining=7, reset_after=12.0)


def test_an_ambiguous_unnamed_status_is_not_joined() -> None:
    info = parse_rate_limit_headers(
        {"RateLimit-Policy": "100;w=60, 100;w=3600", "RateLimit": "limit=100, remaining=0, reset=30"},
        now=NOW,
    )
    assert (info.window, info.remaining, info.reset_after) == (None, 0, 30.0)


@pytest.mark.parametrize("prefix", ["X-RateLimit-", "X-Rate-Limit-", "x-ratelimit-"])
def test_legacy_headers(prefix: str) -> None:
    info = parse_rate_limit_headers(
        {f"{prefix}Limit": "60", f"{prefix}Remaining": "0", f"{prefix}Reset": str(EPOCH_NOW + 42)}, now=NOW
    )
    assert info == RateLimitInfo(limit=60, remaining=0, reset_after=42.0)


def test_legacy_reset_after_header_wins_over_reset() -> None:
    info = parse_rate_limit_headers(
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99", "X-RateLimit-Reset-After": "1.5"}, now=NOW
    )
    assert info.reset_after == 1.5


def test_dates_are_measured_against_the_response_date() -> None:
    # The worker's clock is an hour ahead of the API's: the API's own Date header is the reference.
    headers = {
        "Date": "Sat, 01 Mar 2025 11:00:00 GMT",
        "Retry-After": "Sat, 01 Mar 2025 11:00:20 GMT",
        "X-RateLimit-Reset": str(EPOCH_NOW - 3600 + 20),
        "X-RateLimit-Remaining": "0",
    }
    info = parse_rate_limit_headers(headers)
    assert (info.retry_after, info.reset_after) == (20.0, 20.0)
    # An explicit reference time wins over the header.
    assert parse_rate_limit_headers(headers, now=NOW).retry_after == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Policy": '"d";q=-1;w=nan', "RateLimit": '"d";r=-3;t=abc'},
        {"RateLimit-Policy": '"d";q=0;w=0', "RateLimit": '"d";r=1.5;t=-1'},
        {"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": "soon"},
        {"RateLimit": "limit=, remaining==, reset", "RateLimit-Reset": "-5"},
        {"Retry-After": "whenever", "Date": "not a date"},
        {},
    ],
)
def test_unreadable_fields_are_dropped(headers: dict[str, str]) -> None:
    assert parse_rate_limit_headers(headers, now=NOW) == RateLimitInfo()


def test_readable_fields_survive_unreadable_neighbours() -> None:
    headers = {"RateLimit-Policy": '"d";q=100;w=soon', "RateLimit": '"d";r=x;t=30'}
    info = parse_rate_limit_headers(headers, now=NOW)
    assert info == RateLimitInfo(limit=100, reset_after=30.0)
    assert info.policy_interval is None


def test_suggested_wait_prefers_retry_after() -> None:
    assert RateLimitInfo(retry_after=5.0, remaining=0, reset_after=50.0).suggested_wait == 5.0
    assert RateLimitInfo(remaining=1, reset_after=50.0).suggested_wait is None


_HEADER_NAMES = st.sampled_from(
    [
        "RateLimit",
        "RateLimit-Policy",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "X-RateLimit-Reset-After",
        "X-Rate-Limit-Reset",
        "Retry-After",
        "Date",
    ]
)
_HEADER_VALUES = st.one_of(
    st.text(),
    st.text(alphabet='"default;qwrt=,-.0123456789 e', max_size=40),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
)


@given(st.dictionaries(_HEADER_NAMES, _HEADER_VALUES))
def test_parse_rate_limit_headers_never_raises_nor_returns_absurd_values(headers: dict[str, str]) -> None:
    info = parse_rate_limit_headers(headers, now=NOW)
    for value in (info.retry_after, info.window, info.reset_after, info.policy_interval):
        assert value is None or (math.isfinite(value) and value >= 0)
    assert info.limit is None or info.limit >= 1
    assert info.remaining is None or info.remaining >= 0


def test_parse_link_header() -> None:
    value = (
        '<https://api.example.com/items?page=2&tags=a,b>; rel="next"; title="x, y; z", '
        '</items?page=9>; REL="last prev", broken; rel=next, <x>'
    )
    assert parse_link_header(value) == [
        Link("https://api.example.com/items?page=2&tags=a,b", frozenset({"next"}), {"title": "x, y; z"}),
        Link("/items?page=9", frozenset({"last", "prev"}), {}),
        Link("x", frozenset(), {}),
    ]
    assert parse_link_header(None) == []


def test_split_outside_quotes_honours_escapes_and_brackets() -> None:
    assert split_outside_quotes(r'a="x\",y", <u,v>, b', ",") == [r'a="x\",y"', " <u,v>", " b"]


def test_draft_headers_win_over_the_legacy_family_describing_the_same_limit() -> None:
    headers = {
        "Date": "Mon, 23 Nov 2026 22:26:28 GMT",
        "RateLimit-Policy": '"default";q=50;w=1',
        "RateLimit": '"default";r=0;t=1',
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1795472791",  # 3 s after Date: the legacy epoch rounding
    }
    info = parse_rate_limit_headers(headers)
    assert (info.limit, info.window, info.remaining, info.reset_after) == (50, 1.0, 0, 1.0)
    assert info.policy_interval == pytest.approx(0.02)
