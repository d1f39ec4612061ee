"""Header parsers under text shaped like what APIs send, and like what they send when broken.

The strategies build values from each header's own grammar (structured-field members, dates,
numbers of every size and sign, quoted strings with separators inside), mutated at random, so the
parsers' deeper branches see bad input too, not only random text that fails at the first byte.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from reliable_api.http.headers import (
    legacy_reset_after,
    parse_link_header,
    parse_rate_limit_headers,
    parse_retry_after,
)
from tests.fuzz.fuzz_settings import fuzz

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)

NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["", "0", "-0", "1e309", "NaN", "inf", "0x10", "\uff11\uff12", "\u0663", "1_000", " 5 ", "+3"]
    ),
)
TOKENS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_*", min_size=1, max_size=8), st.text(max_size=5)
)
DATES = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(
        lambda moment: moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
    ),
    st.sampled_from(
        ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]
    ),
)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


PARAMETER = st.tuples(
    st.sampled_from(["q", "w", "r", "t", "pk", "qu", "limit", "x"]), st.one_of(NUMBERS, TOKENS)
)
MEMBER = st.builds(
    lambda name, params: ";".join([name, *(f"{key}={value}" for key, value in params)]),
    st.one_of(TOKENS, TOKENS.map(quoted), NUMBERS),
    st.lists(PARAMETER, max_size=4),
)
STRUCTURED = st.lists(MEMBER, min_size=1, max_size=4).map(", ".join)
DICTIONARY = st.lists(st.tuples(st.sampled_from(["limit", "remaining", "reset"]), NUMBERS), max_size=4).map(
    lambda pairs: ", ".join(f"{key}={value}" for key, value in pairs)
)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A value from ``base``, sometimes cut short or with a few characters replaced or inserted."""
    text = draw(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        cut = draw(st.sampled_from(["insert", "delete", "truncate"]))
        if cut == "truncate":
            text = text[:at]
        elif cut == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + draw(st.sampled_from(list(';,="\\ \t\x00\u00a0<>'))) + text[at:]
    return text


RATE_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "RateLimit",
            "RateLimit-Policy",
            "ratelimit",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Reset-After",
            "X-Rate-Limit-Limit",
            "X-Rate-Limit-Reset",
            "Retry-After",
            "Date",
        ]
    ),
    mutated(st.one_of(STRUCTURED, DICTIONARY, NUMBERS, DATES)),
    max_size=8,
)


def finite_wait(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value >= 0)


@fuzz
@given(mutated(st.one_of(NUMBERS, DATES)))
def test_retry_after_is_a_finite_wait_or_nothing(value: str) -> None:
    assert finite_wait(parse_retry_after(value, now=NOW))


@fuzz
@given(mutated(NUMBERS))
def test_legacy_reset_is_a_finite_wait_or_nothing(value: str) -> None:
    assert finite_wait(legacy_reset_after(value, now=NOW))


@fuzz
@given(RATE_HEADERS)
def test_rate_limit_headers_give_sane_numbers_or_nothing(headers: dict[str, str]) -> None:
    info = parse_rate_limit_headers(headers, now=NOW)
    for wait in (info.retry_after, info.window, info.reset_after, info.policy_interval, info.suggested_wait):
        assert finite_wait(wait)
    assert info.limit is None or info.limit >= 1
    assert info.remaining is None or info.remaining >= 0


LINK = st.builds(
    lambda url, params: "; ".join([f"<{url}>", *params]),
    st.one_of(st.text(max_size=30), st.just("https://api.test/items?page=2&a=b,c")),
    st.lists(
        st.one_of(
            st.builds(lambda rels: f'rel="{rels}"', st.sampled_from(["next", "prev last", "NEXT", ""])),
            st.builds(lambda key, value: f"{key}={value}", TOKENS, st.one_of(TOKENS, TOKENS.map(quoted))),
        ),
        max_size=3,
    ),
)


@fuzz
@given(mutated(st.lists(LINK, max_size=4).map(", ".join)))
def test_link_header_gives_links_whose_rels_are_lower_case(value: str) -> None:
    for link in parse_link_header(value):
        assert isinstance(link.url, str)
        assert all(rel == rel.lower() and rel for rel in link.rels)
        assert all(name == name.lower() for name in link.params)
