"""Turn an HTTP response or a transport exception into the provider's error taxonomy.

=====================================  ==========================================================
status or exception                    error
=====================================  ==========================================================
2xx, 3xx                               none
429; 403 with a wait (GitHub style)    :class:`RateLimited`, ``retry_after`` capped
408, 425, 5xx with ``Retry-After``     :class:`RateLimited`: the API named a time to come back
408, 425, 5xx                          :class:`ServerError`
401, 403                               :class:`AuthenticationError`
409 ``idempotency_key_in_use``         :class:`InFlightConflict`
other 409                              :class:`RecordRejected`, reason ``already_exists`` or
                                       ``conflict``
other 4xx                              :class:`RecordRejected`, reason ``http_<status>``
timeouts, resets, truncated bodies     :class:`NetworkError` (requests, httpx, aiohttp)
bad URL or scheme, redirect loops      :class:`ConfigurationError`
=====================================  ==========================================================

A transient status that carries ``Retry-After`` becomes :class:`RateLimited` rather than
:class:`ServerError` because only ``RateLimited`` carries a wait in the taxonomy, and because it
needs the same treatment: honour the wait, pause the shared limiter, defer when it is long.
Its ``status`` tells the two cases apart.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests

from reliable_api.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InFlightConflict,
    NetworkError,
    RateLimited,
    RecordRejected,
    ReliableApiError,
    ServerError,
)
from reliable_api.http.headers import parse_rate_limit_headers

#: Statuses worth retrying besides 429: the API failed or timed out on its side.
SERVER_ERROR_STATUSES = frozenset({408, 425})
#: The error ``type`` an API sends on 409 when another request holds the idempotency key.
IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"

_E = TypeVar("_E", bound=ReliableApiError)


@dataclass(frozen=True)
class ApiErrorDetails:
    """What an API's JSON error body says, as far as it can be read.

    :param type: the machine-readable error type or code, e.g. ``"already_exists"``.
    :param message: the API's message for people.
    :param existing_id: the id of the record a 409 conflicts with, for an upsert to adopt.
    """

    type: str | None = None
    message: str | None = None
    existing_id: str | None = None


def api_error_details(body: str | bytes | None) -> ApiErrorDetails:
    """Read an API's JSON error body; whatever cannot be read is ``None``.

    Understands ``{"error": {"type" or "code": ..., "message": ..., "existing_id": ...}}``,
    ``{"error": "<type>", "message": ...}`` and the same members at the top level. Works on the
    ``body`` an error of the taxonomy keeps, as long as truncation left it whole.
    """
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return ApiErrorDetails()
    if not isinstance(parsed, dict):
        return ApiErrorDetails()
    error = parsed.get("error")
    fields: Mapping[str, Any] = (
        error if isinstance(error, dict) else {**parsed, "type": error} if isinstance(error, str) else parsed
    )
    return ApiErrorDetails(
        type=_text(fields.get("type", fields.get("code"))),
        message=_text(fields.get("message")),
        existing_id=_text(fields.get("existing_id")),
    )


def classify_response(
    response: requests.Response, *, attempts: int, max_retry_after: float, now: datetime | None = None
) -> ReliableApiError | None:
    """Return the taxonomy's error for a failed ``requests`` response, ``None`` for 2xx/3xx.

    :param response: the response.
    :param attempts: how many times the request has been sent, this one included.
    :param max_retry_after: the longest wait to accept from the API; a longer one is cut to this
        and the error's message says so (the caller defers instead of sleeping).
    :param now: the reference time for dates in headers (default: the response's ``Date``).
    """
    return classify_status(
        response.status_code,
        headers=response.headers,
        body=response.content,
        method=response.request.method if response.request else None,
        url=response.url or None,
        attempts=attempts,
        max_retry_after=max_retry_after,
        now=now,
    )


def classify_status(
    status: int,
    *,
    headers: Mapping[str, str],
    body: str | bytes | None,
    method: str | None,
    url: str | None,
    attempts: int | None,
    max_retry_after: float,
    now: datetime | None = None,
) -> ReliableApiError | None:
    """Return the taxonomy's error for an HTTP status and its headers, ``None`` below 400.

    The same rules as :func:`classify_response`, for any HTTP client's response.
    """
    if status < 400:
        return None

    def build(cls: type[_E], message: str, **extra: Any) -> _E:
        return cls(message, status=status, method=method, url=url, attempts=attempts, body=body, **extra)

    transient = status >= 500 or status in SERVER_ERROR_STATUSES
    info = parse_rate_limit_headers(headers, now=now)
    wait = info.suggested_wait if status in (429, 403) else info.retry_after
    if status == 429 or (wait is not None and (transient or status == 403)):
        if wait is None:
            return build(RateLimited, f"the API asked to slow down (HTTP {status}) without saying how long")
        if wait > max_retry_after:
            message = (
                f"the API asked to wait {wait:g} s (HTTP {status}), "
                f"capped at max_retry_after={max_retry_after:g} s"
            )
            return build(RateLimited, message, retry_after=max_retry_after)
        return build(RateLimited, f"the API asked to wait {wait:g} s (HTTP {status})", retry_after=wait)
    if transient:
        return build(ServerError, f"the API failed on its side (HTTP {status})")
    if status in (401, 403):
        return build(
            AuthenticationError, f"the API refused the credentials or their permissions (HTTP {status})"
        )
    details = api_error_details(body)
    if status == 409 and details.type == IDEMPOTENCY_KEY_IN_USE:
        return build(
            InFlightConflict, "another request with this Idempotency-Key is still in progress (HTTP 409)"
        )
    if status == 409:
        exists = details.existing_id is not None or details.type == "already_exists"
        reason = "already_exists" if exists else "conflict"
        return build(RecordRejected, f"the API reported a conflict (HTTP 409, {reason})", reason=reason)
    kind = f", {details.type}" if details.type else ""
    return build(
        RecordRejected, f"the API rejected the request (HTTP {status}{kind})", reason=f"http_{status}"
    )


def classify_exception(
    exc: BaseException, *, method: str | None, url: str | None, attempts: int | None
) -> ReliableApiError:
    """Return the taxonomy's error for an exception raised while sending a request.

    Knows requests, httpx and aiohttp (the latter two only when already imported: an exception
    of a library nobody imported cannot occur). The result names the exception's type but never
    repeats its text, which for requests includes the URL with its credentials; raise it
    ``from None`` for the same reason. An error of the taxonomy is returned as it is; an
    exception nobody expected becomes a plain :class:`ReliableApiError`, which is not retried.

    :param exc: the exception.
    :param method: the request's method.
    :param url: the request's URL (stored redacted).
    :param attempts: how many times the request has been sent, this one included.
    """
    if isinstance(exc, ReliableApiError):
        return exc
    kind = type(exc).__name__
    context: dict[str, Any] = {"method": method, "url": url, "attempts": attempts}
    configuration, network, with_status = _exception_types()
    if isinstance(exc, configuration):
        return ConfigurationError(f"the request cannot be sent as configured ({kind})", **context)
    if isinstance(exc, network):
        return NetworkError(f"the request or its response was lost ({kind})", **context)
    status = getattr(exc, "status", None)
    if isinstance(exc, with_status) and isinstance(status, int):
        # aiohttp's raise_for_status lost the response: classify by status alone.
        error = classify_status(status, headers={}, body=None, max_retry_after=0.0, **context)
        return error or NetworkError(f"the response could not be read ({kind}, HTTP {status})", **context)
    return ReliableApiError(f"unexpected error while calling the API ({kind})", **context)


def parse_json_body(response: requests.Response, *, attempts: int | None = None) -> Any:
    """Return the parsed JSON body of a successful response; ``None`` for an empty body.

    A body shorter than its ``Content-Length`` or not valid JSON is a :class:`NetworkError`:
    a truncated or mangled transfer, which a retry can fix.

    :param response: the response.
    :param attempts: how many times the request has been sent, for the error.
    :raises NetworkError: naming the URL (redacted), the status and the start of the body.
    """
    content = response.content
    if not content:
        return None

    def lost(problem: str) -> NetworkError:
        return NetworkError(
            f"the response body {problem}",
            status=response.status_code,
            method=response.request.method if response.request else None,
            url=response.url or None,
            attempts=attempts,
            body=content,
        )

    declared = response.headers.get("Content-Length", "")
    identity = response.headers.get("Content-Encoding", "identity").lower() == "identity"
    if identity and declared.isascii() and declared.isdigit() and int(declared) != len(content):
        raise lost(f"is truncated: {len(content)} of {declared} bytes")
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as error:
        at_end = isinstance(error, json.JSONDecodeError) and error.pos >= len(error.doc.rstrip())
        raise lost(f"is not valid JSON{' (it ends early: truncated?)' if at_end else ''}: {error}") from None


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _exception_types() -> tuple[
    tuple[type[BaseException], ...], tuple[type[BaseException], ...], tuple[type[BaseException], ...]
]:
    """(configuration errors, network errors, errors with a status) of the imported clients."""
    exceptions = requests.exceptions
    configuration: list[type[BaseException]] = [
        exceptions.InvalidURL,
        exceptions.MissingSchema,
        exceptions.InvalidSchema,
        exceptions.InvalidHeader,
        exceptions.URLRequired,
        exceptions.TooManyRedirects,
    ]
    # ConnectionError covers ConnectTimeout, SSLError and ProxyError; the built-ins cover sockets.
    network: list[type[BaseException]] = [
        exceptions.ConnectionError,
        exceptions.Timeout,
        exceptions.ChunkedEncodingError,
        exceptions.ContentDecodingError,
        exceptions.RetryError,
        ConnectionError,
        TimeoutError,
        asyncio.TimeoutError,  # not TimeoutError on Python 3.10
    ]
    with_status: list[type[BaseException]] = []
    if "httpx" in sys.modules:
        import httpx

        configuration += [
            httpx.UnsupportedProtocol,
            httpx.LocalProtocolError,
            httpx.InvalidURL,
            httpx.TooManyRedirects,
        ]
        network += [httpx.TransportError, httpx.DecodingError]
    if "aiohttp" in sys.modules:
        import aiohttp

        configuration += [aiohttp.InvalidURL, aiohttp.TooManyRedirects]
        network += [aiohttp.ClientConnectionError, aiohttp.ClientPayloadError]
        with_status.append(aiohttp.ClientResponseError)
    return tuple(configuration), tuple(network), tuple(with_status)
