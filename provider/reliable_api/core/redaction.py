"""Redact secrets from URLs and headers before they reach a log, an error or a staged file."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# Query parameter and header names whose values are credentials. Matching is by substring
# on the lower-cased name, so "x-api-key", "access_token" and "client_secret" are all caught.
SECRET_NAME_PARTS: tuple[str, ...] = (
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "auth",
    "signature",
    "sig",
    "key",
    "session",
    "cookie",
    "credential",
)


def is_secret_name(name: str) -> bool:
    """Return whether a query parameter or header name looks like it carries a credential."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def redact_url(url: str) -> str:
    """Return ``url`` with user info and secret-looking query values replaced by ``***``.

    A URL that cannot be parsed is returned as its scheme and host only, or fully redacted:
    an error message must never be the way a credential leaks.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        query = urlencode(
            [
                (name, REDACTED if is_secret_name(name) else value)
                for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return REDACTED


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with credential-carrying values replaced by ``***``."""
    return {name: REDACTED if is_secret_name(name) else value for name, value in headers.items()}
