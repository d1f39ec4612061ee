from __future__ import annotations

import pytest

from reliable_api.core.redaction import REDACTED, is_secret_name, redact_headers, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1/x?page=2", "https://api.example.com/v1/x?page=2"),
        (
            "https://api.example.com/v1/x?access_token=abc&page=2",
            "https://api.example.com/v1/x?access_token=***&page=2",
        ),
        ("https://u:p@api.example.com/v1", "https://***@api.example.com/v1"),
        (
            "https://api.example.com/v1?API_KEY=abc&Signature=zz",
            "https://api.example.com/v1?API_KEY=***&Signature=***",
        ),
        ("https://api.example.com/v1?client_secret=", "https://api.example.com/v1?client_secret=***"),
        ("https://api.example.com/v1#frag-with-token", "https://api.example.com/v1"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_unparseable_url_is_fully_redacted() -> None:
    assert redact_url("http://[::1") == REDACTED


def test_redact_headers_keeps_plain_headers() -> None:
    headers = {"Authorization": "Bearer t0k", "X-Api-Key": "k", "Accept": "application/json"}
    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "Accept": "application/json",
    }


@pytest.mark.parametrize("name", ["token", "X-Auth-Token", "password", "apikey", "Cookie", "refresh_token"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["page", "per_page", "cursor", "updated_since", "Accept"])
def test_plain_names(name: str) -> None:
    assert not is_secret_name(name)
