"""The three pagination styles of list endpoints, all served at once.

- page: ``?page=&per_page=`` -> ``page``, ``per_page``, ``total``, ``next_page``;
- offset: ``?offset=&limit=`` -> ``offset``, ``limit``, ``total``, ``next_offset``;
- cursor: ``?cursor=&limit=`` (empty cursor = start) -> ``next_cursor``, ``next_url``.

The style is chosen by the parameters present: ``cursor`` wins, then ``offset``/``limit``, else page.
Each page also names its neighbours as query parameter changes, which the app turns into an
RFC 8288 ``Link`` header.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from reliable_api.testing.sandbox.errors import invalid
from reliable_api.testing.sandbox.store import id_number

DEFAULT_SIZE = 50
MAX_SIZE = 1000
_CURSOR_PREFIX = "after:"


@dataclass(frozen=True)
class PageSlice:
    """One page of ids and what the response says about it.

    :param ids: the ids on this page.
    :param body: pagination members of the response body (besides ``data``).
    :param links: link relation -> query parameters that lead there.
    """

    ids: list[str]
    body: Mapping[str, object]
    links: dict[str, dict[str, str]] = field(default_factory=dict)


def encode_cursor(record_id: str) -> str:
    """An opaque cursor pointing after ``record_id``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id a cursor points after.

    :raises ApiError: 422 for a cursor this server did not hand out.
    """
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        record_id = decoded.removeprefix(_CURSOR_PREFIX)
        if not decoded.startswith(_CURSOR_PREFIX):
            raise ValueError(decoded)
        id_number(record_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("cursor", f"cursor {cursor!r} is not valid") from None
    return record_id


def _position_after(ids: list[str], record_id: str) -> int:
    # Ids sort by number, and the cursor's record may have left the filtered set since.
    return bisect.bisect_right(ids, id_number(record_id), key=id_number)


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise invalid(name, f"{name} must be {bounds}, got {value}")
    return value


def paginate(ids: list[str], params: Mapping[str, str]) -> PageSlice:
    """Cut the page that ``params`` ask for out of ``ids`` (all matching ids, in id order).

    :param ids: ids of every record the request matches.
    :param params: the request's query parameters.
    :raises ApiError: 422 naming the parameter that is out of range or malformed.
    """
    total = len(ids)
    if "cursor" in params:
        limit = _int_param(params, "limit", DEFAULT_SIZE, 1, MAX_SIZE)
        start = _position_after(ids, decode_cursor(params["cursor"])) if params["cursor"] else 0
        page = ids[start : start + limit]
        next_cursor = encode_cursor(page[-1]) if page and start + limit < total else None
        links = {"first": {"cursor": ""}}
        if next_cursor:
            links["next"] = {"cursor": next_cursor}
        return PageSlice(page, {"limit": limit, "next_cursor": next_cursor}, links)

    if "offset" in params or "limit" in params:
        offset = _int_param(params, "offset", 0, 0)
        limit = _int_param(params, "limit", DEFAULT_SIZE, 1, MAX_SIZE)
        next_offset = offset + limit if offset + limit < total else None
        links = {"first": {"offset": "0"}}
        if offset > 0:
            links["prev"] = {"offset": str(max(0, offset - limit))}
        if next_offset is not None:
            links["next"] = {"offset": str(next_offset)}
        body = {"offset": offset, "limit": limit, "total": total, "next_offset": next_offset}
        return PageSlice(ids[offset : offset + limit], body, links)

    number = _int_param(params, "page", 1, 1)
    per_page = _int_param(params, "per_page", DEFAULT_SIZE, 1, MAX_SIZE)
    start = (number - 1) * per_page
    next_page = number + 1 if start + per_page < total else None
    last = max(1, math.ceil(total / per_page))
    links = {"first": {"page": "1"}, "last": {"page": str(last)}}
    if number > 1:
        links["prev"] = {"page": str(min(number - 1, last))}
    if next_page is not None:
        links["next"] = {"page": str(next_page)}
    body = {"page": number, "per_page": per_page, "total": total, "next_page": next_page}
    return PageSlice(ids[start : start + per_page], body, links)
