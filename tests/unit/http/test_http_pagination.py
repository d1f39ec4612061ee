from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import ConfigurationError
from reliable_api.http.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    PageRequest,
    PageResponse,
    Paginator,
    iter_pages,
)

BASE = "https://api.test"
ENDPOINT = f"{BASE}/v1/items"


@dataclass
class FakeApi:
    """An in-memory list endpoint with ``total`` records that pages in every style at once.

    Like real APIs it caps the page size (``max_size``), whatever the client asks for.
    """

    total: int
    max_size: int = 7
    absolute_links: bool = False
    requests: list[PageRequest] = field(default_factory=list)

    def fetch(self, request: PageRequest) -> PageResponse:
        self.requests.append(request)
        params = dict(parse_qsl(urlsplit(request.url).query)) if request.url else dict(request.params)
        if "after" in params:  # cursor style
            start, size = int(params["after"] or 0), self.max_size
        elif "offset" in params:
            start, size = int(params["offset"]), min(int(params["limit"]), self.max_size)
        else:
            size = min(int(params.get("per_page", 5)), self.max_size)
            start = (int(params.get("page", 1)) - 1) * size
        end = min(start + size, self.total)
        more = end < self.total
        next_params = {**params, "page": str(int(params.get("page", 1)) + 1)}
        next_link = f"{ENDPOINT if self.absolute_links else '/v1/items'}?{urlencode(next_params)}"
        body = {
            "data": [{"id": i} for i in range(start, end)],
            "total": self.total,
            "next_page": int(params.get("page", 1)) + 1 if more else None,
            "next_offset": end if more else None,
            "meta": {"next_cursor": str(end) if more else None},
            "links": {"next": next_link if more else None},
        }
        headers = {"link": f'<{next_link}>; rel="next", </v1/items?page=1>; rel="first"'} if more else {}
        return PageResponse(f"{ENDPOINT}?{urlencode(params)}", body, headers)


STYLES: dict[str, Callable[[int], Paginator]] = {
    "page": lambda size: PageNumberPaginator(size=size),
    "page+total": lambda size: PageNumberPaginator(size=size, total_path="total"),
    "page+next": lambda size: PageNumberPaginator(size=size, next_page_path="next_page"),
    "offset": lambda size: OffsetPaginator(limit=size),
    "offset+total": lambda size: OffsetPaginator(limit=size, total_path="total"),
    "offset+next": lambda size: OffsetPaginator(limit=size, next_offset_path="next_offset"),
    "cursor": lambda size: CursorPaginator(
        cursor_path="meta.next_cursor", cursor_param="after", initial_cursor=""
    ),
    "link": lambda size: LinkHeaderPaginator(),
    "next_url": lambda size: NextUrlPaginator(next_url_path="links.next"),
}


def walk(api: FakeApi, paginator: Paginator, **kwargs: Any) -> Iterator[Page]:
    return iter_pages(api.fetch, paginator, base_url=f"{BASE}/", params={"q": "x"}, **kwargs)


def ids(pages: Iterator[Page]) -> list[int]:
    return [record["id"] for page in pages for record in page.records]


@pytest.mark.parametrize("style", STYLES)
@given(total=st.integers(min_value=0, max_value=40), size=st.integers(min_value=1, max_value=10))
def test_every_style_yields_each_record_exactly_once(style: str, total: int, size: int) -> None:
    api = FakeApi(total, absolute_links=size % 2 == 0)
    pages = list(walk(api, STYLES[style](size)))
    assert ids(iter(pages)) == list(range(total))
    # One request a page; an empty page only as the last one, and only when it is the end.
    assert len(api.requests) == len(pages)
    assert all(page.records for page in pages[:-1])


@pytest.mark.parametrize("style", STYLES)
@given(total=st.integers(min_value=1, max_value=30), stop_after=st.integers(min_value=1, max_value=6))
def test_a_walk_resumes_from_its_saved_state(style: str, total: int, stop_after: int) -> None:
    api, paginator = FakeApi(total), STYLES[style](5)
    first: list[int] = []
    state: dict[str, Any] | None = None
    for page in walk(api, paginator):
        first += [record["id"] for record in page.records]
        state = json.loads(json.dumps(page.state))  # it goes through XCom or trigger kwargs
        if page.number == stop_after:
            break
    assert state is not None
    rest = ids(walk(api, paginator, state=state))
    assert first + rest == list(range(total))


def test_caller_params_travel_with_every_request() -> None:
    api = FakeApi(12)
    list(walk(api, CursorPaginator(cursor_path="meta.next_cursor", cursor_param="after", initial_cursor="")))
    assert [dict(request.params) for request in api.requests] == [
        {"q": "x", "after": ""},
        {"q": "x", "after": "7"},
    ]


def test_pages_carry_their_number_and_next_request() -> None:
    pages = list(walk(FakeApi(10), PageNumberPaginator(size=5, total_path="total")))
    assert [page.number for page in pages] == [1, 2]
    assert pages[0].next_request == PageRequest({"q": "x", "page": "2", "per_page": "5"})
    assert pages[1].next_request is None
    assert pages[1].state == {"next": None, "pages": 2}
    assert list(walk(FakeApi(10), PageNumberPaginator(), state=pages[1].state)) == []


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test/v1/items?page=2&token=SECRET",
        "http://api.test/v1/items?page=2&token=SECRET",  # a downgrade to cleartext
        "https://api.test:8443/v1/items?page=2&token=SECRET",
        "//evil.test/v1/items?page=2&token=SECRET",
        "https://api.test:99999/x?token=SECRET",
    ],
)
def test_a_next_url_on_another_origin_is_refused(target: str) -> None:
    def fetch(request: PageRequest) -> PageResponse:
        return PageResponse(ENDPOINT, {"data": [1], "next_url": target})

    pages = iter_pages(fetch, NextUrlPaginator(), base_url=BASE)
    next(pages)
    with pytest.raises(ConfigurationError, match="refusing to follow next URL to another host") as caught:
        next(pages)
    assert "SECRET" not in str(caught.value)
    assert "token=***" in str(caught.value)


def test_the_same_origin_is_recognised_in_any_spelling() -> None:
    targets = iter(["https://API.test:443/v1/items?page=2", "/v1/items?page=3", None])

    def fetch(request: PageRequest) -> PageResponse:
        return PageResponse(request.url or ENDPOINT, {"data": [request.url], "next_url": next(targets)})

    pages = list(iter_pages(fetch, NextUrlPaginator(), base_url="https://api.test/v1/"))
    assert [page.records for page in pages] == [
        [None],
        ["https://API.test:443/v1/items?page=2"],
        ["https://API.test:443/v1/items?page=3"],
    ]


def test_a_cursor_that_does_not_advance_is_a_loop() -> None:
    def fetch(request: PageRequest) -> PageResponse:
        return PageResponse(ENDPOINT, {"data": [len(request.params)], "next_cursor": "same", "token": "x"})

    pages = iter_pages(fetch, CursorPaginator(), base_url=BASE, params={"api_key": "SECRET"})
    with pytest.raises(ConfigurationError, match="asked for the same page twice") as caught:
        list(pages)
    assert "SECRET" not in str(caught.value)


def test_an_api_that_ignores_the_page_parameter_is_caught_at_once() -> None:
    api = FakeApi(100)
    with pytest.raises(ConfigurationError, match="two pages in a row held the same records"):
        list(walk(api, PageNumberPaginator(page_param="p", size=5)))
    assert len(api.requests) == 2


def test_max_pages_ends_a_long_walk_with_an_error() -> None:
    pages = walk(FakeApi(30), PageNumberPaginator(size=5), max_pages=2)
    assert [page.number for page in (next(pages), next(pages))] == [1, 2]
    with pytest.raises(ConfigurationError, match="more than max_pages=2 pages"):
        next(pages)
    # A walk of exactly max_pages pages is fine.
    assert len(list(walk(FakeApi(10), PageNumberPaginator(size=5, total_path="total"), max_pages=2))) == 2


@pytest.mark.parametrize(
    ("body", "records_path", "message"),
    [
        ({"data": {"id": 1}}, "data", "expected a list of records at 'data' of the page, found dict"),
        ({"items": []}, "data", "found nothing"),
        ({"result": {"rows": "abc"}}, "result.rows", "at 'result.rows'"),
        ({"data": []}, None, r"at '\(the body\)'"),
        (None, "data", "found nothing"),
    ],
)
def test_records_must_be_a_list_at_records_path(body: Any, records_path: str | None, message: str) -> None:
    def fetch(request: PageRequest) -> PageResponse:
        return PageResponse(f"{ENDPOINT}?api_key=SECRET", body)

    with pytest.raises(ConfigurationError, match=message) as caught:
        list(iter_pages(fetch, PageNumberPaginator(), base_url=BASE, records_path=records_path))
    assert caught.value.url == f"{ENDPOINT}?api_key=***"


def test_records_path_none_reads_a_bare_list() -> None:
    bodies = iter([[1, 2], []])
    pages = iter_pages(
        lambda _: PageResponse(ENDPOINT, next(bodies)), OffsetPaginator(), base_url=BASE, records_path=None
    )
    assert [page.records for page in pages] == [[1, 2], []]


@pytest.mark.parametrize(
    ("paginator", "body", "message"),
    [
        (PageNumberPaginator(next_page_path="next"), {"data": [1], "next": "two"}, "at 'next'"),
        (PageNumberPaginator(total_path="n"), {"data": [1], "n": -3}, "non-negative integer at 'n'"),
        (OffsetPaginator(total_path="n"), {"data": [1], "n": "²"}, "non-negative integer at 'n'"),
        (CursorPaginator(), {"data": [1], "next_cursor": {"a": 1}}, "expected a cursor"),
        (NextUrlPaginator(), {"data": [1], "next_url": 7}, "expected a URL at 'next_url'"),
    ],
)
def test_unreadable_positions_are_errors(paginator: Paginator, body: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        list(iter_pages(lambda _: PageResponse(ENDPOINT, body), paginator, base_url=BASE))


@pytest.mark.parametrize(
    ("paginator", "body"),
    [
        (PageNumberPaginator(next_page_path="next"), {"data": [1], "next": None}),
        (PageNumberPaginator(total_path="n"), {"data": [1], "n": "1"}),
        (OffsetPaginator(total_path="n"), {"data": [1, 2], "n": 2}),
        (CursorPaginator(), {"data": [1], "next_cursor": ""}),
        (NextUrlPaginator(), {"data": [1], "next_url": None}),
        (LinkHeaderPaginator(), {"data": [1]}),
    ],
)
def test_the_body_can_end_the_walk(paginator: Paginator, body: Any) -> None:
    assert len(list(iter_pages(lambda _: PageResponse(ENDPOINT, body), paginator, base_url=BASE))) == 1


def test_an_integer_cursor_and_a_total_given_as_text_are_read() -> None:
    bodies = iter([{"data": [1], "next_cursor": 17}, {"data": [2], "next_cursor": None}])
    seen: list[PageRequest] = []

    def fetch(request: PageRequest) -> PageResponse:
        seen.append(request)
        return PageResponse(ENDPOINT, next(bodies))

    assert len(list(iter_pages(fetch, CursorPaginator(), base_url=BASE))) == 2
    assert seen[1] == PageRequest({"cursor": "17"})


def test_the_link_header_paginator_follows_only_its_rel() -> None:
    headers = {"Link": '<https://api.test/x?page=9>; rel="last", <https://api.test/x?page=1>; rel="prev"'}
    response = PageResponse(ENDPOINT, {"data": [1]}, headers)
    assert LinkHeaderPaginator().next_request(PageRequest(), response, [1]) is None
    assert LinkHeaderPaginator(rel="last").next_request(PageRequest(), response, [1]) == PageRequest(
        url="https://api.test/x?page=9"
    )


@pytest.mark.parametrize(
    "state",
    [
        {"pages": -1, "next": None},
        {"pages": "2", "next": None},
        {"next": None},
        {"pages": 1, "next": {"params": {"page": 2}}},
        {"pages": 1, "next": {"params": {}, "url": 5}},
        {"pages": 1, "next": "https://api.test/x"},
    ],
)
def test_a_bad_state_is_a_configuration_error(state: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="not a saved"):
        list(walk(FakeApi(3), PageNumberPaginator(), state=state))


@pytest.mark.parametrize(
    "make",
    [
        lambda: PageNumberPaginator(size=0),
        lambda: PageNumberPaginator(start=-1),
        lambda: OffsetPaginator(limit=0),
    ],
)
def test_bad_sizes_are_configuration_errors(make: Callable[[], Paginator]) -> None:
    with pytest.raises(ConfigurationError, match="page size must be >= 1"):
        make()


@pytest.mark.parametrize(
    ("paginator", "requests"),
    [
        (PageNumberPaginator(size=10), 3),  # the third page is empty
        (PageNumberPaginator(size=10, total_path="total"), 2),
        (OffsetPaginator(limit=10, total_path="total"), 2),
    ],
)
def test_total_saves_the_empty_request_even_when_the_api_caps_the_size(
    paginator: Paginator, requests: int
) -> None:
    # Asked for 10 a page, the API sends 7: counting by the size asked for would stop after 10 of 14.
    api = FakeApi(14, max_size=7)
    assert ids(walk(api, paginator)) == list(range(14))
    assert len(api.requests) == requests
