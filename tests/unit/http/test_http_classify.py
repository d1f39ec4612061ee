from __future__ import annotations

import io
import json
import pickle
from datetime import datetime, timezone
from typing import Any

import aiohttp
import httpx
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InFlightConflict,
    NetworkError,
    RateLimited,
    RecordRejected,
    ReliableApiError,
    ServerError,
    TransientError,
)
from reliable_api.http.classify import (
    ApiErrorDetails,
    api_error_details,
    classify_exception,
    classify_response,
    classify_status,
    parse_json_body,
)

URL = "https://api.example.com/v1/contacts?api_key=SECRET&page=2"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def make_response(
    status: int,
    body: bytes | str | dict[str, Any] = b"",
    *,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> requests.Response:
    """A ``requests.Response`` as the transport would hand it over, without a network."""
    if isinstance(body, dict):
        body = json.dumps(body)
    response = requests.Response()
    response.status_code = status
    response.raw = io.BytesIO(body.encode() if isinstance(body, str) else body)
    response.headers.update(headers or {})
    response.url = URL
    response.request = requests.Request(method, URL).prepare()
    return response


def classify(response: requests.Response, max_retry_after: float = 3600.0) -> ReliableApiError | None:
    return classify_response(response, attempts=3, max_retry_after=max_retry_after, now=NOW)


@pytest.mark.parametrize("status", [200, 201, 204, 301, 304])
def test_success_and_redirects_are_not_errors(status: int) -> None:
    assert classify(make_response(status)) is None


def test_an_error_carries_the_request_redacted_and_the_body() -> None:
    error = classify(make_response(422, {"error": {"type": "validation_error"}}, method="post"))
    assert isinstance(error, RecordRejected)
    assert (error.status, error.method, error.attempts, error.reason) == (422, "POST", 3, "http_422")
    assert error.url == "https://api.example.com/v1/contacts?api_key=***&page=2"
    assert error.body is not None
    assert "validation_error" in error.body
    assert "SECRET" not in str(error)
    assert "HTTP 422, validation_error" in str(error)


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"Retry-After": "Sat, 01 Mar 2025 12:00:10 GMT"}, 10.0),
        ({"RateLimit-Policy": '"d";q=10;w=60', "RateLimit": '"d";r=0;t=12'}, 12.0),  # a spent quota
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW.timestamp()) + 7)}, 7.0),
        ({}, None),  # a plain 429, as a proxy sends
        ({"Retry-After": "later"}, None),
    ],
)
def test_429_is_rate_limited_with_the_wait_the_api_names(
    headers: dict[str, str], retry_after: float | None
) -> None:
    error = classify(make_response(429, headers=headers))
    assert isinstance(error, RateLimited)
    assert error.retry_after == retry_after


def test_a_retry_after_beyond_the_maximum_is_capped_and_says_so() -> None:
    error = classify(make_response(429, headers={"Retry-After": "86400"}), max_retry_after=600)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 600
    assert "asked to wait 86400 s (HTTP 429), capped at max_retry_after=600 s" in str(error)
    assert "capped" not in str(classify(make_response(429, headers={"Retry-After": "600"}), 600))


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504, 507, 599])
def test_transient_statuses_are_server_errors(status: int) -> None:
    error = classify(make_response(status, "<html>oops</html>"))
    assert type(error) is ServerError
    assert error.status == status


@pytest.mark.parametrize("status", [503, 500, 408])
def test_a_transient_status_with_retry_after_carries_the_wait(status: int) -> None:
    error = classify(make_response(status, headers={"Retry-After": "120"}))
    assert isinstance(error, RateLimited)
    assert (error.status, error.retry_after) == (status, 120.0)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures(status: int) -> None:
    error = classify(make_response(status, headers={"X-RateLimit-Remaining": "12"}))
    assert isinstance(error, AuthenticationError)


def test_a_403_for_a_spent_quota_is_rate_limited() -> None:
    # GitHub's primary rate limit: 403 with X-RateLimit-Remaining: 0.
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW.timestamp()) + 60)}
    error = classify(make_response(403, headers=headers))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 60.0


def test_409_for_an_idempotency_key_in_use_is_in_flight() -> None:
    body = {"error": {"type": "idempotency_key_in_use", "message": "still running"}}
    error = classify(make_response(409, body, method="POST"))
    assert isinstance(error, InFlightConflict)
    assert isinstance(error, TransientError)


@pytest.mark.parametrize(
    ("body", "reason", "existing_id"),
    [
        ({"error": {"type": "already_exists", "existing_id": "c_42"}}, "already_exists", "c_42"),
        ({"error": {"type": "duplicate", "existing_id": 42}}, "already_exists", "42"),
        ({"error": {"type": "version_mismatch"}}, "conflict", None),
        ("conflict!", "conflict", None),
    ],
)
def test_other_409s_are_rejections_the_upsert_can_read(
    body: dict[str, Any] | str, reason: str, existing_id: str | None
) -> None:
    error = classify(make_response(409, body))
    assert isinstance(error, RecordRejected)
    assert error.reason == reason
    assert api_error_details(error.body).existing_id == existing_id
    # The details survive the pickling Airflow uses between processes.
    assert api_error_details(pickle.loads(pickle.dumps(error)).body).existing_id == existing_id


@pytest.mark.parametrize("status", [400, 404, 405, 410, 413, 422, 451, 499])
def test_other_4xx_are_rejections(status: int) -> None:
    error = classify(make_response(status))
    assert isinstance(error, RecordRejected)
    assert error.reason == f"http_{status}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": {"type": "t", "message": "m", "existing_id": "x"}}', ApiErrorDetails("t", "m", "x")),
        ('{"error": {"code": 1234}}', ApiErrorDetails("1234")),
        ('{"error": "not_found", "message": "gone"}', ApiErrorDetails("not_found", "gone")),
        ('{"type": "t", "existing_id": "x"}', ApiErrorDetails("t", existing_id="x")),
        ('{"error": {"type": true, "message": ["m"]}}', ApiErrorDetails()),
        ("[1, 2]", ApiErrorDetails()),
        ('{"error": {"type": "trunc', ApiErrorDetails()),
        (b"\xff\xfe\x00", ApiErrorDetails()),
        ("[" * 100_000, ApiErrorDetails()),
        ("", ApiErrorDetails()),
        (None, ApiErrorDetails()),
    ],
)
def test_api_error_details(body: str | bytes | None, expected: ApiErrorDetails) -> None:
    assert api_error_details(body) == expected


@given(
    st.integers(min_value=100, max_value=599),
    st.dictionaries(st.sampled_from(["Retry-After", "RateLimit", "X-RateLimit-Reset", "Date"]), st.text()),
    st.binary(max_size=64),
)
def test_classify_status_is_total(status: int, headers: dict[str, str], body: bytes) -> None:
    error = classify_status(
        status, headers=headers, body=body, method="GET", url=URL, attempts=1, max_retry_after=60.0, now=NOW
    )
    assert (error is None) == (status < 400)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        assert 0 <= error.retry_after <= 60.0


def test_classify_status_for_another_client() -> None:
    error = classify_status(
        503, headers={}, body=None, method="GET", url=URL, attempts=1, max_retry_after=60.0
    )
    assert isinstance(error, ServerError)


_REQUEST = httpx.Request("GET", URL)


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectTimeout(f"timed out {URL}"),
        requests.exceptions.ReadTimeout(f"timed out {URL}"),
        requests.exceptions.ConnectionError(f"Max retries exceeded with url: {URL}"),
        requests.exceptions.SSLError("bad handshake"),
        requests.exceptions.ChunkedEncodingError("IncompleteRead"),
        requests.exceptions.ContentDecodingError("bad gzip"),
        ConnectionResetError(104, "reset by peer"),
        TimeoutError(),
        httpx.ConnectTimeout("timeout", request=_REQUEST),
        httpx.ReadTimeout("timeout", request=_REQUEST),
        httpx.ConnectError("refused", request=_REQUEST),
        httpx.RemoteProtocolError("peer closed", request=_REQUEST),
        httpx.DecodingError("bad gzip", request=_REQUEST),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("truncated"),
    ],
)
def test_transport_failures_are_network_errors(exc: BaseException) -> None:
    error = classify_exception(exc, method="get", url=URL, attempts=2)
    assert type(error) is NetworkError
    assert (error.method, error.attempts) == ("GET", 2)
    assert type(exc).__name__ in str(error)
    assert "SECRET" not in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.MissingSchema("no scheme"),
        requests.exceptions.InvalidURL("bad"),
        requests.exceptions.TooManyRedirects("loop"),
        httpx.UnsupportedProtocol("ftp", request=_REQUEST),
        httpx.LocalProtocolError("bad header", request=_REQUEST),
        httpx.InvalidURL("bad"),
        aiohttp.InvalidURL("bad"),
    ],
)
def test_requests_that_cannot_be_sent_are_configuration_errors(exc: BaseException) -> None:
    assert type(classify_exception(exc, method="GET", url=URL, attempts=1)) is ConfigurationError


def _aiohttp_status_error(status: int, cls: type[aiohttp.ClientResponseError]) -> aiohttp.ClientResponseError:
    return cls(request_info=None, history=(), status=status, message="reason")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_aiohttp_status_error(404, aiohttp.ClientResponseError), RecordRejected),
        (_aiohttp_status_error(503, aiohttp.ClientResponseError), ServerError),
        (_aiohttp_status_error(429, aiohttp.ClientResponseError), RateLimited),
        (_aiohttp_status_error(200, aiohttp.ContentTypeError), NetworkError),
    ],
)
def test_aiohttp_status_errors_are_classified_by_status(
    exc: BaseException, expected: type[ReliableApiError]
) -> None:
    assert type(classify_exception(exc, method="GET", url=URL, attempts=1)) is expected


def test_taxonomy_errors_pass_through_and_unknown_ones_are_not_retryable() -> None:
    original = RecordRejected("bad")
    assert classify_exception(original, method=None, url=None, attempts=None) is original
    error = classify_exception(KeyError(f"{URL}"), method="GET", url=URL, attempts=1)
    assert type(error) is ReliableApiError
    assert "KeyError" in str(error)
    assert "SECRET" not in str(error)


def test_parse_json_body() -> None:
    assert parse_json_body(make_response(200, {"data": [1]})) == {"data": [1]}
    assert parse_json_body(make_response(204)) is None


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [
        ('{"data": [1, 2', {}, "ends early: truncated?"),
        ("<html>Bad gateway</html>", {}, "is not valid JSON"),
        ('{"data": []}', {"Content-Length": "400"}, "truncated: 12 of 400 bytes"),
        (b"\xff\xfe{", {}, "is not valid JSON"),
        ("[" * 100_000, {}, "is not valid JSON"),
    ],
)
def test_unreadable_bodies_are_network_errors(
    body: str | bytes, headers: dict[str, str], fragment: str
) -> None:
    with pytest.raises(NetworkError, match=r"api_key=\*\*\*") as caught:
        parse_json_body(make_response(200, body, headers=headers), attempts=1)
    assert fragment in str(caught.value)
    assert caught.value.status == 200
    assert "SECRET" not in str(caught.value)


def test_an_unreadable_content_length_is_ignored() -> None:
    assert parse_json_body(make_response(200, "[]", headers={"Content-Length": "²"})) == []


def test_a_compressed_body_is_not_measured_against_its_content_length() -> None:
    headers = {"Content-Length": "5", "Content-Encoding": "gzip"}
    assert parse_json_body(make_response(200, '{"a": 1}', headers=headers)) == {"a": 1}
