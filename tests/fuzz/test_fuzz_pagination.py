"""Every paginator walks a hostile API: bodies of any shape, next links anywhere, counts of any type.

A walk either ends, or stops with a :class:`ConfigurationError` that names what the page got
wrong; it never raises anything else, never sends a request off the connection's origin and
never fetches more than ``max_pages`` pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ConfigurationError
from reliable_api.http.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    PageResponse,
    Paginator,
    iter_pages,
)
from tests.fuzz.fuzz_settings import fuzz

BASE = "https://api.test/v1/"
MAX_PAGES = 12

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
URLS = st.one_of(
    st.sampled_from(
        [
            "https://api.test/v1/items?page=2",
            "/v1/items?cursor=abc",
            "items?offset=10",
            "https://evil.test/steal",
            "http://api.test/v1/items",  # another scheme: another origin
            "https://api.test:8443/v1/items",
            "https://api.test:99999/x",
            "//evil.test/x",
            "javascript:alert(1)",
            "",
        ]
    ),
    st.text(max_size=20),
)
COUNTS = st.one_of(st.integers(min_value=-5, max_value=50), st.text(max_size=4), st.none(), st.floats(), JSON)
RECORDS = st.one_of(st.lists(st.integers(), max_size=5), st.lists(JSON, max_size=3), JSON)


@st.composite
def page_bodies(draw: st.DrawFn) -> dict[str, Any] | Any:
    """A body where the paginators look, with values of any type, or something else entirely."""
    if draw(st.booleans()):
        return draw(JSON)
    body: dict[str, Any] = {"data": draw(RECORDS)}
    for key, values in (
        ("next_cursor", st.one_of(st.text(max_size=6), COUNTS)),
        ("total", COUNTS),
        ("next_page", COUNTS),
        ("next_offset", COUNTS),
        ("next_url", st.one_of(URLS, COUNTS)),
    ):
        if draw(st.booleans()):
            body[key] = draw(values)
    return body


def link_header(url: str) -> str:
    return f'<{url}>; rel="next"'


PAGES = st.lists(
    st.tuples(page_bodies(), st.one_of(st.none(), URLS.map(link_header), st.text(max_size=30))),
    min_size=1,
    max_size=MAX_PAGES + 2,
)
SAVED_STATES = st.one_of(
    st.dictionaries(st.text(max_size=6), JSON, max_size=3),
    st.fixed_dictionaries(
        {
            "pages": COUNTS,
            "next": st.one_of(
                JSON,
                st.fixed_dictionaries({"params": st.dictionaries(st.text(max_size=4), JSON), "url": URLS}),
            ),
        }
    ),
)
PAGINATORS: list[Paginator] = [
    PageNumberPaginator(size=5, total_path="total", next_page_path="next_page"),
    PageNumberPaginator(size=5),
    OffsetPaginator(limit=5, total_path="total", next_offset_path="next_offset"),
    CursorPaginator(),
    LinkHeaderPaginator(),
    NextUrlPaginator(),
]


@fuzz
@given(paginator=st.sampled_from(PAGINATORS), pages=PAGES)
def test_a_walk_ends_or_says_what_the_page_got_wrong(paginator: Paginator, pages: list[Any]) -> None:
    sent: list[PageRequest] = []

    def fetch(request: PageRequest) -> PageResponse:
        sent.append(request)
        body, link = pages[min(len(sent), len(pages)) - 1]
        headers = {"Link": link} if link is not None else {}
        return PageResponse(url=request.url or f"{BASE}items", body=body, headers=headers)

    try:
        for page in iter_pages(fetch, paginator, base_url=BASE, max_pages=MAX_PAGES):
            assert isinstance(page.records, list)
            assert page.state["pages"] == page.number
    except ConfigurationError:
        pass  # the walk stopped and said why: the error type is the contract
    assert len(sent) <= MAX_PAGES
    for request in sent:
        if request.url is not None:
            target = urlsplit(request.url)
            assert (target.scheme, target.hostname, target.port or 443) == ("https", "api.test", 443)


@fuzz
@given(paginator=st.sampled_from(PAGINATORS), state=SAVED_STATES)
def test_a_corrupt_saved_state_is_refused_before_any_request(
    paginator: Paginator, state: dict[str, Any]
) -> None:
    fetched: list[PageRequest] = []

    def fetch(request: PageRequest) -> PageResponse:
        fetched.append(request)
        return PageResponse(url=f"{BASE}items", body={"data": []})

    try:
        list(iter_pages(fetch, paginator, base_url=BASE, state=state))
    except ConfigurationError:
        assert not fetched
    else:
        assert isinstance(state.get("pages"), int)
