"""Vendor quota header parsers under what the vendors send, and what they send when broken.

Values come from each vendor's grammar (Salesforce's ``api-usage=18/15000`` among other usages,
Shopify's ``32/40``, HubSpot's daily count and remainder, the IETF/``X-RateLimit-*`` headers),
with numbers of every size and script, then mutated at random as in ``test_fuzz_headers.py``.
Whatever comes in, the registry yields only sane reports or a ``ValueError`` short enough to log,
and a well-formed header always reads back as the numbers it was built from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from reliable_api.http.quota_headers import (
    DAY,
    QUOTA_PARSERS,
    QuotaReport,
    parse_quota_headers,
    register_quota_parser,
)
from tests.fuzz.fuzz_settings import fuzz
from tests.fuzz.test_fuzz_headers import DICTIONARY, NUMBERS, STRUCTURED, mutated

#: An unreadable header is logged once per value: its message must stay a log line.
LONGEST_MESSAGE = 300
NAMED = ("Sforce-Limit-Info", "X-Shopify-Shop-Api-Call-Limit", "X-HubSpot-RateLimit-Daily")

COUNTS = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    NUMBERS,
    st.sampled_from(["\u0663", "\u00b2", "\uff15", "1" * 5000, "-1", "0", " 7", "7 "]),
    st.text(alphabet="12\u00b2\u0663\uff15", min_size=1, max_size=400),  # digits of other scripts
)
FRACTION = st.builds(lambda used, limit: f"{used}/{limit}", COUNTS, COUNTS)
SALESFORCE = st.lists(
    st.builds(
        lambda name, value: f"{name}={value}",
        st.sampled_from(["api-usage", "per-app-api-usage", "API-USAGE", " api-usage", ""]),
        st.one_of(FRACTION, FRACTION.map(lambda f: f + "(appName=sample-connected-app)")),
    ),
    max_size=3,
).map(",".join)
VENDOR_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Sforce-Limit-Info",
            "sforce-limit-info",
            "X-Shopify-Shop-Api-Call-Limit",
            "x-shopify-shop-api-call-limit",
            "X-HubSpot-RateLimit-Daily",
            "X-HubSpot-RateLimit-Daily-Remaining",
            "x-hubspot-ratelimit-daily-remaining",
            "RateLimit",
            "RateLimit-Policy",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ]
    ),
    mutated(st.one_of(SALESFORCE, FRACTION, COUNTS, STRUCTURED, DICTIONARY)),
    max_size=8,
)


def sane(report: QuotaReport) -> bool:
    return (
        math.isfinite(report.used)
        and report.used >= 0
        and math.isfinite(report.limit)
        and report.limit > 0
        and (report.period is None or (math.isfinite(report.period) and report.period > 0))
        and report.source in QUOTA_PARSERS
    )


@fuzz
@given(VENDOR_HEADERS)
def test_the_registry_yields_sane_reports_or_short_value_errors(headers: dict[str, str]) -> None:
    for outcome in parse_quota_headers(headers):
        if isinstance(outcome, ValueError):
            assert len(str(outcome)) <= LONGEST_MESSAGE
            assert any(name in str(outcome) for name in NAMED), outcome  # says which header
        else:
            assert isinstance(outcome, QuotaReport)
            assert sane(outcome)


WELL_FORMED = st.tuples(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=10**9))
SPACES = st.sampled_from(["", " ", "  "])


@fuzz
@given(WELL_FORMED, SPACES, st.sampled_from(["", "per-app-api-usage=1/2(appName=x),"]))
def test_salesforce_api_usage_reads_back(numbers: tuple[int, int], space: str, before: str) -> None:
    used, limit = numbers
    value = f"{before}{space}api-usage={space}{used}{space}/{space}{limit}"
    assert list(parse_quota_headers({"Sforce-Limit-Info": value})) == [
        QuotaReport(used, limit, DAY, "salesforce")
    ]


@fuzz
@given(WELL_FORMED, SPACES)
def test_shopify_call_limit_reads_back(numbers: tuple[int, int], space: str) -> None:
    used, limit = numbers
    headers = {"X-Shopify-Shop-Api-Call-Limit": f"{space}{used}{space}/{limit}{space}"}
    assert list(parse_quota_headers(headers)) == [QuotaReport(used, limit, 20.0, "shopify")]


@fuzz
@given(WELL_FORMED, st.integers(min_value=0, max_value=10**9))
def test_hubspot_daily_headers_read_back(numbers: tuple[int, int], remaining: int) -> None:
    _, limit = numbers
    headers = {"X-HubSpot-RateLimit-Daily": str(limit), "X-HubSpot-RateLimit-Daily-Remaining": str(remaining)}
    assert list(parse_quota_headers(headers)) == [
        QuotaReport(max(0, limit - remaining), limit, DAY, "hubspot")
    ]


def fuzz_quota(headers: Mapping[str, str]) -> QuotaReport | None:
    """A user's own parser: ``X-Fuzz-Quota: <used>`` of ``used + 1`` per minute."""
    seen_by_parser.append(headers)
    value = headers.get("x-fuzz-quota")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) < 20):
        raise ValueError(f"X-Fuzz-Quota: expected a whole number, got {value[:30]!r}")
    return QuotaReport(int(value), int(value) + 1, 60.0, "fuzzed")


seen_by_parser: list[Mapping[str, str]] = []


@fuzz
@given(st.sampled_from(["X-Fuzz-Quota", "x-fuzz-quota", "X-FUZZ-QUOTA"]), mutated(COUNTS))
def test_a_registered_parser_sees_lower_case_names_and_its_errors_come_back(name: str, value: str) -> None:
    seen_by_parser.clear()
    register_quota_parser("fuzzed", fuzz_quota)
    try:
        outcomes = list(parse_quota_headers({name: value}))
    finally:
        del QUOTA_PARSERS["fuzzed"]
    assert seen_by_parser == [{"x-fuzz-quota": value}]
    if value.isascii() and value.isdigit() and len(value) < 20:
        assert outcomes == [QuotaReport(int(value), int(value) + 1, 60.0, "fuzzed")]
    else:
        assert [type(outcome) for outcome in outcomes] == [ValueError]
        assert "X-Fuzz-Quota" in str(outcomes[0])
