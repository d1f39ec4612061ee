"""What sits in front of the ``/v1`` routes, as an API gateway would: an ASGI middleware.

For each ``/v1`` request, in this order: count it, authenticate, rate limit (429 or headers on the
way out), refuse it during a burst of 429s, decide its fault (which may start such a burst),
honour its Idempotency-Key, then let the FastAPI routes serve it.
``/_sandbox`` requests pass straight through: they are never limited, faulted or counted.

It is pure ASGI and the outermost layer, because a connection reset needs the server's own
``send`` (uvicorn's, which knows the transport), not one wrapped by Starlette's middleware.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import struct
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reliable_api.testing.sandbox.errors import ApiError
from reliable_api.testing.sandbox.faults import LOST_ANSWERS, Fault, request_identity
from reliable_api.testing.sandbox.headers import rate_limit_headers, retry_after
from reliable_api.testing.sandbox.idempotency import StoredResponse, request_fingerprint
from reliable_api.testing.sandbox.oauth import TokenIssuer
from reliable_api.testing.sandbox.quota import vendor_quota_headers
from reliable_api.testing.sandbox.ratelimit import NANOS
from reliable_api.testing.sandbox.state import SandboxState
from reliable_api.testing.sandbox.store import RESOURCES

RawHeaders = list[tuple[bytes, bytes]]

ANONYMOUS = "anonymous"
JSON_TYPE = (b"content-type", b"application/json")
#: What each injected failure looks like: a 502 comes from a proxy, so it is HTML, not JSON.
FAULT_RESPONSES: dict[Fault, tuple[int, bytes, bytes]] = {
    Fault.ERROR_500: (
        500,
        b"application/json",
        b'{"error":{"type":"internal_error","message":"injected"}}',
    ),
    Fault.ERROR_502: (502, b"text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    Fault.ERROR_503: (503, b"application/json", b'{"error":{"type":"unavailable","message":"injected"}}'),
    Fault.MALFORMED: (200, b"application/json", b'{"data":[{"id":"con_000001","email":"ada@exa'),
}
#: What a client gets instead of the answer of a request that was served (see ``LOST_ANSWERS``).
LOST_RESPONSES: dict[Fault, tuple[int, bytes, bytes]] = {
    Fault.LOST_502: FAULT_RESPONSES[Fault.ERROR_502],
    Fault.LOST_STALL: (504, b"text/html", b"<html><body><h1>504 Gateway Time-out</h1></body></html>"),
}


def route_label(method: str, path: str) -> str:
    """The route a request is counted under, e.g. ``GET /v1/contacts/{id}``."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or len(parts) > 3 or parts[1] not in RESOURCES:
        return f"{method} other"
    tail = "" if len(parts) == 2 else "/" + (parts[2] if parts[2] in ("search", "batch") else "{id}")
    return f"{method} /v1/{parts[1]}{tail}"


def presented_key(headers: Headers) -> str | None:
    """The API key a request carries, from ``Authorization: Bearer`` or ``X-API-Key``."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key")


def client_label(key: str | None) -> str:
    """How stats and the limiter name a client, without repeating its secret."""
    return ANONYMOUS if key is None else "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


async def send_response(send: Send, status: int, body: bytes, headers: RawHeaders) -> None:
    """Send a complete response with a Content-Length."""
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-length", str(len(body)).encode()), *headers],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def reset_connection(send: Send, receive: Receive) -> None:
    """Drop the connection with a TCP RST and no response, as a crashed load balancer would.

    uvicorn's ``send`` is a method of the request cycle that holds the asyncio transport. Setting
    SO_LINGER to 0 makes closing the socket send RST, so the client sees "connection reset".

    :raises RuntimeError: when the server is not uvicorn (then the client gets a 500).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise RuntimeError("the reset fault needs uvicorn, whose send() exposes the transport")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Wait until the server has noticed, so it does not complain that no response was sent.
    while (await receive())["type"] != "http.disconnect":
        pass


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already read ``body`` first, then defers to ``receive``."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


class _Recorder:
    """Passes the app's response on and keeps a copy of it (for Idempotency-Key replays)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500  # until the app responds: a crash releases the key like a 5xx
        self.headers: RawHeaders = []
        self.body: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))
        await self._send(message)

    def response(self) -> StoredResponse:
        return StoredResponse(self.status, self.headers, b"".join(self.body))


def _raw(headers: list[tuple[str, str]]) -> RawHeaders:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _decorating(send: Send, headers: RawHeaders, on_status: Callable[[int], None]) -> Send:
    """A ``send`` that adds ``headers`` to the response and reports its status."""

    async def decorated(message: Message) -> None:
        if message["type"] == "http.response.start":
            on_status(message["status"])
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return decorated


class Gateway:
    """ASGI middleware applying the sandbox's authentication, rate limit, faults and idempotency.

    :param app: the FastAPI app with the routes.
    :param state: the sandbox's shared state.
    """

    #: The OAuth2 tokens the sandbox issued (see :mod:`reliable_api.testing.sandbox.oauth`).
    tokens: TokenIssuer | None = None

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection event."""
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        state = self.state
        headers = Headers(scope=scope)
        key = presented_key(headers)
        client = client_label(key)
        route = route_label(scope["method"], scope["path"])
        state.stats.request(route, client)
        added: RawHeaders = []
        decorated = _decorating(send, added, state.stats.response)
        try:
            self._authenticate(key)
            added += self._admit(client)
            await self._serve(scope, headers, receive, send, decorated, client)
        except ApiError as error:
            body = json.dumps(error.body, separators=(",", ":")).encode()
            await send_response(decorated, error.status, body, [JSON_TYPE, *_raw(error.headers)])

    def _authenticate(self, key: str | None) -> None:
        if self.state.config.oauth_client and self.tokens is not None:
            self.tokens.check(key)
            return
        accepted = self.state.config.api_keys
        if not accepted:
            return
        if key is None:
            raise ApiError(
                401,
                "unauthenticated",
                "send Authorization: Bearer <key> or X-API-Key",
                headers=[("WWW-Authenticate", "Bearer")],
            )
        if key not in accepted:
            raise ApiError(403, "forbidden", "this API key is not accepted")

    def _admit(self, client: str) -> RawHeaders:
        """Rate limit the request: its rate-limit and quota headers, or a 429 error carrying them."""
        state, config = self.state, self.state.config
        quota = self._count_quota(client)
        if state.limiter is None:
            state.stats.admitted()
            return quota
        decision = state.limiter.acquire(client)
        now = state.wall()
        headers = rate_limit_headers(decision, state.limiter.policy, config, now=now)
        if decision.allowed:
            state.stats.admitted()
            return _raw(headers) + quota
        headers += self._retry_after(client, decision.retry_after)
        raise ApiError(429, "rate_limited", "too many requests", headers=headers)

    def _retry_after(self, client: str, wait: float) -> list[tuple[str, str]]:
        """The ``Retry-After`` header of a 429 that asks ``client`` to wait ``wait`` s (if sent)."""
        state, config = self.state, self.state.config
        if not config.retry_after:
            return []
        header = retry_after(wait, http_date=config.retry_after_format == "http-date", now=state.wall())
        state.stats.promise(client, header.promised_wait)
        return [("Retry-After", header.value)]

    def _refuse_in_burst(self, client: str) -> None:
        """Answer 429 while ``client`` is in a burst of 429s (``p_429``), as an API under load does.

        :raises ApiError: the 429, with the rest of the burst as Retry-After.
        """
        state = self.state
        left = (state.bursts_429.get(client, 0) - state.monotonic()) / NANOS
        if left > 0:
            headers = self._retry_after(client, left)
            raise ApiError(429, "rate_limited", "too many requests (a burst of 429s)", headers=headers)

    def _count_quota(self, client: str) -> RawHeaders:
        """Count the call against the client's quota: its vendor headers, or a 429 when spent.

        A call the rate limit then refuses was counted: real APIs count calls, not successes.
        """
        state, config = self.state, self.state.config
        if not config.quota:
            return []
        used, ends_in = state.quota.take(client, quota=config.quota, period=config.quota_period)
        headers = vendor_quota_headers(config.quota_headers, used=used, quota=config.quota)
        if used <= config.quota:
            return _raw(headers)
        headers += self._retry_after(client, ends_in)
        raise ApiError(429, "quota_exceeded", f"the quota of {config.quota} calls is spent", headers=headers)

    async def _serve(
        self, scope: Scope, headers: Headers, receive: Receive, raw_send: Send, send: Send, client: str
    ) -> None:
        """Inject the request's fault, or run it (under its Idempotency-Key, if any)."""
        state, config = self.state, self.state.config
        self._refuse_in_burst(client)
        body = await read_body(receive)
        # Creates and batches are the POST routes; the header means nothing elsewhere.
        key = headers.get("idempotency-key") if config.idempotency and scope["method"] == "POST" else None
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        identity = request_identity(scope["method"], scope["path"], query, key, _json_or_none(body))
        fault = state.faults.decide(config, identity)
        if fault is not Fault.NONE:
            state.stats.faults[fault.value] += 1
        if fault is Fault.BURST_429:
            state.bursts_429[client] = state.monotonic() + round(config.burst_429_seconds * NANOS)
            self._refuse_in_burst(client)
        if fault in FAULT_RESPONSES:
            status, content_type, fault_body = FAULT_RESPONSES[fault]
            await send_response(send, status, fault_body, [(b"content-type", content_type)])
        elif fault is Fault.RESET:
            await reset_connection(raw_send, receive)
        elif fault in LOST_ANSWERS:
            await self._run(scope, replaying(body, receive), _discard, client, key, body, 0.0)
            if fault is Fault.LOST_STALL:  # past the client's read timeout: it has given up
                await asyncio.sleep(config.slow_seconds)
            status, content_type, fault_body = LOST_RESPONSES[fault]
            await send_response(send, status, fault_body, [(b"content-type", content_type)])
        else:
            # A slow request is served in full after its delay, even if the client gave up.
            delay = config.slow_seconds if fault is Fault.SLOW else 0.0
            await self._run(scope, replaying(body, receive), send, client, key, body, delay)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        client: str,
        key: str | None,
        body: bytes,
        delay: float,
    ) -> None:
        """Let the routes serve the request, or replay the response stored for its Idempotency-Key."""
        # The store as it is now: a reset while this request runs must not see it finish.
        keys = self.state.idempotency
        if key is not None:
            stored = keys.begin(client, key, request_fingerprint(scope["method"], scope["path"], body))
            if stored is not None:
                self.state.stats.idempotent_replays += 1
                replayed = [*stored.headers, (b"idempotent-replayed", b"true")]
                await send_response(send, stored.status, stored.body, replayed)
                return
        recorder = _Recorder(send)
        try:
            if delay:
                await asyncio.sleep(delay)
            await self.app(scope, receive, recorder)
        finally:
            if key is not None:
                keys.finish(client, key, recorder.response())


async def _discard(message: Message) -> None:
    """A ``send`` for an answer that is lost on its way back."""


def _json_or_none(body: bytes) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
