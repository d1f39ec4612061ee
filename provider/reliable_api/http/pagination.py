"""Paginators: from the last page, the request for the next one.

A paginator is an immutable description of how an API pages. The position of a walk lives in
the request itself (the page number, offset or cursor in its query parameters, or the next URL),
so the state of a walk is a small JSON dict, :attr:`Page.state`, that an operator saves after
staging a page and hands back to :func:`iter_pages` to resume after a deferral or a retry.

:func:`iter_pages` drives a paginator and guards the walk: it refuses a next URL on another
origin than the connection's (the credentials would go with it), stops with an error when the
API sends the same page or request twice (the paginator does not advance) and when the walk
passes ``max_pages``: a walk never ends early without saying so.

=========================  ==============================================================
paginator                  next page from
=========================  ==============================================================
:class:`PageNumberPaginator`  ``?page=&per_page=``; stops on an empty page, or ``total`` /
                           ``next_page`` in the body when their paths are given
:class:`OffsetPaginator`   ``?offset=&limit=``, the offset advanced by the records received
:class:`CursorPaginator`   a cursor at a dotted path in the body, sent back as a parameter
:class:`LinkHeaderPaginator`  the RFC 8288 ``Link`` header, ``rel="next"``
:class:`NextUrlPaginator`  a URL at a dotted path in the body
=========================  ==============================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode, urljoin, urlsplit

from reliable_api.core.redaction import redact_url
from reliable_api.exceptions import ConfigurationError
from reliable_api.http.headers import parse_link_header

#: Pages one walk may fetch unless told otherwise: a guard against an API that never ends.
DEFAULT_MAX_PAGES = 100_000

_MISSING = object()
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class PageRequest:
    """The request for one page.

    :param params: query parameters for the endpoint.
    :param url: an absolute URL to fetch as it is (it carries its own query); overrides the
        endpoint and ``params``.
    """

    params: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the request as a JSON-serialisable dict."""
        return {"params": dict(self.params), "url": self.url}

    @classmethod
    def from_dict(cls, data: object) -> PageRequest:
        """Rebuild a request from :meth:`to_dict`.

        :raises ConfigurationError: when ``data`` is not such a dict.
        """
        params = data.get("params") if isinstance(data, dict) else None
        url = data.get("url") if isinstance(data, dict) else None
        if not (
            isinstance(params, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
            and (url is None or isinstance(url, str))
        ):
            raise ConfigurationError(f"not a saved page request: {type(data).__name__}")
        return cls(params, url)


@dataclass(frozen=True)
class PageResponse:
    """One fetched page, as a paginator reads it.

    :param url: the absolute URL the page came from (relative links resolve against it).
    :param body: the parsed JSON body.
    :param headers: the response headers.
    """

    url: str
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a walk.

    :param number: the page's number in the walk, from 1 (counting pages before a resume).
    :param records: the records of the page.
    :param response: the page as fetched.
    :param next_request: the request for the next page; ``None`` on the last page.
    """

    number: int
    records: list[Any]
    response: PageResponse
    next_request: PageRequest | None

    @property
    def state(self) -> dict[str, Any]:
        """The JSON-serialisable state that resumes the walk after this page (``iter_pages(state=)``).

        It holds the next request as the API named it: an API that echoes a credential into its
        next links puts it here too, so keep the state where the credential may be.
        """
        return {"next": self.next_request.to_dict() if self.next_request else None, "pages": self.number}


class Paginator(ABC):
    """How an API pages: the first request, and the next one from the last page."""

    def first_request(self, params: Mapping[str, str]) -> PageRequest:
        """Return the request for the first page, given the caller's query parameters."""
        return PageRequest(dict(params))

    @abstractmethod
    def next_request(
        self, request: PageRequest, response: PageResponse, records: Sequence[Any]
    ) -> PageRequest | None:
        """Return the request for the page after ``response``, or ``None`` after the last one.

        :param request: the request that fetched ``response``.
        :param response: the last page.
        :param records: the records of the last page.
        """


class _Layout(NamedTuple):
    position_param: str
    size_param: str
    size: int
    start: int
    total_path: str | None
    next_path: str | None


class _NumberedPaginator(Paginator):
    """A walk whose position is a number in a query parameter: a page number or an offset."""

    def __post_init__(self) -> None:
        layout = self._layout()
        if layout.size < 1 or layout.start < 0:
            raise ConfigurationError(
                f"page size must be >= 1 and start >= 0, got size={layout.size}, start={layout.start}"
            )

    @abstractmethod
    def _layout(self) -> _Layout:
        """The parameters and paths of this paginator, by role."""

    @abstractmethod
    def _step(self, position: int, received: int) -> int:
        """The position after ``position`` when that page held ``received`` records."""

    @abstractmethod
    def _records_through(self, position: int, received: int) -> int:
        """The records the pages up to ``position`` held; may count low, never high."""

    def first_request(self, params: Mapping[str, str]) -> PageRequest:
        """Ask for the first position and the page size."""
        layout = self._layout()
        return PageRequest(
            {**params, layout.position_param: str(layout.start), layout.size_param: str(layout.size)}
        )

    def next_request(
        self, request: PageRequest, response: PageResponse, records: Sequence[Any]
    ) -> PageRequest | None:
        """Ask for the next position: the body's, else the next step; none after an empty page."""
        if not records:
            return None
        layout, url = self._layout(), response.url
        param = layout.position_param
        current = _count(request.params.get(param), f"the {param!r} parameter", url)
        following = self._step(current, len(records))
        if layout.next_path is not None:
            announced = _lookup(response.body, layout.next_path)
            if announced is None:
                return None
            if announced is not _MISSING:
                following = _count(announced, layout.next_path, url)
        total = _count_at(response.body, layout.total_path, url)
        if total is not None and self._records_through(current, len(records)) >= total:
            return None
        return PageRequest({**request.params, param: str(following)})


@dataclass(frozen=True)
class PageNumberPaginator(_NumberedPaginator):
    """Numbered pages: ``?page=1&per_page=100``, then 2, 3, ... until an empty page.

    :param page_param: the query parameter of the page number.
    :param size_param: the query parameter of the page size.
    :param size: the page size to ask for (the API may send fewer; that is safe).
    :param start: the number of the first page (0 or 1).
    :param total_path: dotted path of the total record count in the body; stops the walk once
        the pages so far (at the size of the last one) hold that many.
    :param next_page_path: dotted path of the next page number in the body; ``null`` there ends
        the walk.
    """

    page_param: str = "page"
    size_param: str = "per_page"
    size: int = 100
    start: int = 1
    total_path: str | None = None
    next_page_path: str | None = None

    def _layout(self) -> _Layout:
        return _Layout(
            self.page_param, self.size_param, self.size, self.start, self.total_path, self.next_page_path
        )

    def _step(self, position: int, received: int) -> int:
        return position + 1

    def _records_through(self, position: int, received: int) -> int:
        # As if every page so far held as many as this one: a short last page undercounts,
        # which costs at most one more (empty) request, never a lost page.
        return (position - self.start + 1) * received


@dataclass(frozen=True)
class OffsetPaginator(_NumberedPaginator):
    """Offset and limit: ``?offset=0&limit=100``, the offset advanced by the records received.

    Advancing by the records received, not by ``limit``, loses nothing when the API caps the
    limit below the one asked for.

    :param offset_param: the query parameter of the offset.
    :param limit_param: the query parameter of the page size.
    :param limit: the page size to ask for.
    :param start: the first offset.
    :param total_path: dotted path of the total record count in the body; stops the walk there.
    :param next_offset_path: dotted path of the next offset in the body; ``null`` there ends
        the walk.
    """

    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    start: int = 0
    total_path: str | None = None
    next_offset_path: str | None = None

    def _layout(self) -> _Layout:
        return _Layout(
            self.offset_param,
            self.limit_param,
            self.limit,
            self.start,
            self.total_path,
            self.next_offset_path,
        )

    def _step(self, position: int, received: int) -> int:
        return position + received

    def _records_through(self, position: int, received: int) -> int:
        return position + received


@dataclass(frozen=True)
class CursorPaginator(Paginator):
    """An opaque cursor in the body, sent back as a query parameter; none (or empty) ends the walk.

    :param cursor_path: dotted path of the next cursor in the body, e.g. ``"meta.next_cursor"``.
    :param cursor_param: the query parameter that carries the cursor.
    :param initial_cursor: the cursor of the first request; ``None`` leaves the parameter out.
    """

    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"
    initial_cursor: str | None = None

    def first_request(self, params: Mapping[str, str]) -> PageRequest:
        """Ask for the first page, with ``initial_cursor`` when given."""
        if self.initial_cursor is None:
            return PageRequest(dict(params))
        return PageRequest({**params, self.cursor_param: self.initial_cursor})

    def next_request(
        self, request: PageRequest, response: PageResponse, records: Sequence[Any]
    ) -> PageRequest | None:
        """Ask for the page after the body's cursor."""
        cursor = _lookup(response.body, self.cursor_path)
        if cursor in (_MISSING, None, ""):
            return None
        if not isinstance(cursor, (str, int)) or isinstance(cursor, bool):
            raise _unexpected(self.cursor_path, "a cursor (string or integer)", cursor, response.url)
        return PageRequest({**request.params, self.cursor_param: str(cursor)})


@dataclass(frozen=True)
class LinkHeaderPaginator(Paginator):
    """The RFC 8288 ``Link`` header's ``rel="next"`` target (GitHub style); none ends the walk.

    :param rel: the link relation to follow.
    """

    rel: str = "next"

    def next_request(
        self, request: PageRequest, response: PageResponse, records: Sequence[Any]
    ) -> PageRequest | None:
        """Follow the link, resolved against the page's URL."""
        value = next((v for k, v in response.headers.items() if k.lower() == "link"), None)
        target = next((link.url for link in parse_link_header(value) if self.rel in link.rels), None)
        return PageRequest(url=urljoin(response.url, target)) if target else None


@dataclass(frozen=True)
class NextUrlPaginator(Paginator):
    """A next URL at a dotted path in the body, absolute or relative; none ends the walk.

    :param next_url_path: dotted path of the URL, e.g. ``"links.next"``.
    """

    next_url_path: str = "next_url"

    def next_request(
        self, request: PageRequest, response: PageResponse, records: Sequence[Any]
    ) -> PageRequest | None:
        """Follow the URL, resolved against the page's URL."""
        target = _lookup(response.body, self.next_url_path)
        if target in (_MISSING, None, ""):
            return None
        if not isinstance(target, str):
            raise _unexpected(self.next_url_path, "a URL", target, response.url)
        return PageRequest(url=urljoin(response.url, target))


def iter_pages(
    fetch: Callable[[PageRequest], PageResponse],
    paginator: Paginator,
    *,
    base_url: str,
    params: Mapping[str, str] | None = None,
    records_path: str | None = "data",
    max_pages: int = DEFAULT_MAX_PAGES,
    state: Mapping[str, Any] | None = None,
) -> Iterator[Page]:
    """Walk the pages of a resource, lazily, one :class:`Page` at a time.

    :param fetch: sends a :class:`PageRequest` (the endpoint with ``params``, or its ``url``)
        and returns the page; it raises the taxonomy's errors.
    :param paginator: how the API pages.
    :param base_url: the connection's base URL: next URLs must stay on its origin.
    :param params: the query parameters of the first request (filters, ``updated_since``, ...).
    :param records_path: dotted path of the list of records in the body; ``None``: the body.
    :param max_pages: the most pages the walk fetches, counting those before a resume.
    :param state: :attr:`Page.state` of the last page handled, to resume after it (``params``
        are then ignored: the state carries them).
    :raises ConfigurationError: for a next URL on another origin, a page or request sent twice,
        a walk longer than ``max_pages``, a body without a list at ``records_path``, an invalid
        ``state``.
    """
    if state is None:
        request: PageRequest | None = paginator.first_request(params or {})
        pages = 0
    else:
        request, pages = _resume(state)
    origin = _origin(base_url)
    seen: set[tuple[str | None, tuple[tuple[str, str], ...]]] = set()
    previous: list[Any] | None = None
    while request is not None:
        if pages >= max_pages:
            raise ConfigurationError(f"the walk has more than max_pages={max_pages} pages; raise max_pages")
        if request.url is not None and _origin(request.url) != origin:
            raise ConfigurationError(
                f"refusing to follow next URL to another host: {redact_url(request.url)} "
                f"is not on {redact_url(base_url)}"
            )
        key = (request.url, tuple(sorted(request.params.items())))
        if key in seen:
            raise _loop("the paginator asked for the same page twice", request)
        seen.add(key)
        response = fetch(request)
        records = _records(response, records_path)
        if records and records == previous:
            raise _loop("two pages in a row held the same records: the API ignores the paging", request)
        pages += 1
        next_request = paginator.next_request(request, response, records)
        yield Page(pages, records, response, next_request)
        request, previous = next_request, records


def _lookup(body: Any, path: str | None) -> Any:
    """The value at a dotted path of nested objects, or ``_MISSING``; the body for no path."""
    value = body
    for name in path.split(".") if path else ():
        if not isinstance(value, dict) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _records(response: PageResponse, records_path: str | None) -> list[Any]:
    records = _lookup(response.body, records_path)
    if not isinstance(records, list):
        raise _unexpected(records_path or "(the body)", "a list of records", records, response.url)
    return records


def _count(value: object, where: str, url: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise _unexpected(where, "a non-negative integer", value, url)


def _count_at(body: Any, path: str | None, url: str) -> int | None:
    """The count at ``path`` in the body; ``None`` without a path, or with nothing or null there."""
    value = _lookup(body, path) if path else None
    if path is None or value is _MISSING or value is None:
        return None
    return _count(value, path, url)


def _unexpected(where: str, wanted: str, found: object, url: str) -> ConfigurationError:
    shown = "nothing" if found is _MISSING else f"{type(found).__name__} {str(found)[:100]!r}"
    return ConfigurationError(f"expected {wanted} at {where!r} of the page, found {shown}", url=url)


def _loop(problem: str, request: PageRequest) -> ConfigurationError:
    shown = redact_url(request.url or f"?{urlencode(sorted(request.params.items()))}")
    return ConfigurationError(f"{problem} ({shown}); check the paginator's parameter names against the API")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) with default ports filled in; a URL with a bad port has no host."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return parts.scheme.lower(), None, None
    return parts.scheme.lower(), parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme.lower())


def _resume(state: Mapping[str, Any]) -> tuple[PageRequest | None, int]:
    pages, saved = state.get("pages"), state.get("next")
    if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
        raise ConfigurationError(f"not a saved pagination state (pages: {pages!r})")
    return (None if saved is None else PageRequest.from_dict(saved)), pages
