"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header, with Stripe's semantics).

- same key, same request: the first response is replayed exactly, nothing is executed again;
- same key, other request: 422 ``idempotency_key_reused``;
- same key while the first request is still running: 409 ``idempotency_key_in_use``.

Only successful (2xx) responses are kept. A failed first attempt releases its key, so that a
record rejected with 404/422 can be sent again with the same key once the cause is fixed (the way
a dead-letter replay works), and a 5xx can be retried.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from reliable_api.testing.sandbox.errors import ApiError

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    """A response as it was first sent: status, headers and body bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what a request asks for; JSON bodies are canonicalized so key order does not matter."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(b"\x1f".join((method.encode(), path.encode(), canonical))).hexdigest()


@dataclass
class _Entry:
    fingerprint: str
    response: StoredResponse | None = None


class IdempotencyStore:
    """Keys seen per client scope, each in flight or with its stored response."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def begin(self, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim ``key`` for a request, or return the response to replay.

        :param scope: the client (keys of different API keys never collide).
        :param key: the Idempotency-Key header value.
        :param fingerprint: from :func:`request_fingerprint`.
        :returns: ``None`` when the request should run (the key is now in flight), else the
            stored response to replay.
        :raises ApiError: 422 for a malformed or reused key, 409 for a key in flight.
        """
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApiError(
                422,
                "validation_error",
                f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters",
                field="Idempotency-Key",
            )
        entry = self._entries.get((scope, key))
        if entry is None:
            self._entries[scope, key] = _Entry(fingerprint)
            return None
        if entry.fingerprint != fingerprint:
            raise ApiError(
                422, "idempotency_key_reused", "this Idempotency-Key was used with another request"
            )
        if entry.response is None:
            raise ApiError(
                409, "idempotency_key_in_use", "a request with this Idempotency-Key is still in progress"
            )
        return entry.response

    def finish(self, scope: str, key: str, response: StoredResponse) -> None:
        """Store a 2xx response for replay, or release the key after a failure."""
        if 200 <= response.status < 300:
            self._entries[scope, key].response = response
        else:
            del self._entries[scope, key]
