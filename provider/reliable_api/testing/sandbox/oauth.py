"""OAuth2 for the sandbox: a token endpoint that counts its requests, and bearer tokens that expire.

With ``oauth_client="id:secret"`` every ``/v1`` request needs ``Authorization: Bearer <token>``
from ``POST /oauth/token``: the ``client_credentials`` grant (client id and secret by HTTP Basic
or in the form), or the ``refresh_token`` grant with the refresh token the first answer gave.
A token lives ``token_lifetime`` seconds; ``POST /_sandbox/oauth/expire`` ends every token now
(an API that revokes early). ``token_format`` makes the endpoint misbehave as some do: ``json``
(RFC 6749), ``json-no-expiry`` (no ``expires_in``) or ``form`` (``application/x-www-form-urlencoded``,
GitHub's old default). ``GET /_sandbox/oauth`` counts token requests and requests that came with
an expired token.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from reliable_api.testing.sandbox.errors import ApiError

router = APIRouter()


@dataclass
class TokenIssuer:
    """Issued tokens and their expiry times; the counters tests read.

    :param clock: wall-clock seconds.
    """

    clock: Callable[[], float]
    tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    expired_token_requests: int = 0
    refused_token_requests: int = 0

    def issue(self, lifetime: float) -> tuple[str, str]:
        """A new access token valid ``lifetime`` seconds, and a refresh token."""
        token, refresh = f"at_{secrets.token_urlsafe(24)}", f"rt_{secrets.token_urlsafe(24)}"
        self.tokens[token] = self.clock() + lifetime
        self.refresh_tokens.add(refresh)
        return token, refresh

    def check(self, token: str | None) -> None:
        """Accept a live token.

        :raises ApiError: 401 ``invalid_token`` for a missing, unknown or expired one.
        """
        expires = self.tokens.get(token or "")
        if expires is not None and self.clock() < expires:
            return
        if expires is not None:
            self.expired_token_requests += 1
        raise ApiError(
            401,
            "invalid_token",
            "the access token is missing, unknown or expired",
            headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
        )

    def expire_all(self) -> int:
        """End every token now; how many were live."""
        now = self.clock()
        live = sum(1 for expires in self.tokens.values() if expires > now)
        self.tokens = dict.fromkeys(self.tokens, now)
        return live


def issuer(request: Request) -> TokenIssuer:
    """The running sandbox's token issuer."""
    return cast(TokenIssuer, request.app.state.oauth)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@router.post("/oauth/token")
async def token(request: Request) -> Response:
    """RFC 6749 token endpoint: ``client_credentials`` and ``refresh_token`` grants."""
    tokens = issuer(request)
    config = request.app.state.sandbox.config
    tokens.token_requests += 1
    form = dict(parse_qsl((await request.body()).decode("latin-1")))
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
    if not config.oauth_client or f"{client_id}:{client_secret}" != config.oauth_client:
        tokens.refused_token_requests += 1
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    grant = form.get("grant_type")
    if grant == "refresh_token" and form.get("refresh_token") not in tokens.refresh_tokens:
        tokens.refused_token_requests += 1
        return _oauth_error(400, "invalid_grant", "unknown refresh token")
    if grant not in ("client_credentials", "refresh_token"):
        tokens.refused_token_requests += 1
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
    access, refresh = tokens.issue(config.token_lifetime)
    body: dict[str, object] = {"access_token": access, "token_type": "Bearer", "refresh_token": refresh}
    if config.token_format != "json-no-expiry":
        body["expires_in"] = int(config.token_lifetime)
    if config.token_format == "form":
        content = urlencode({name: str(value) for name, value in body.items()})
        return Response(content, media_type="application/x-www-form-urlencoded")
    return JSONResponse(body)


@router.post("/_sandbox/oauth/expire")
async def expire(request: Request) -> JSONResponse:
    """End every access token now, as an API that revokes tokens early."""
    return JSONResponse({"expired": issuer(request).expire_all()})


@router.get("/_sandbox/oauth")
async def oauth_stats(request: Request) -> JSONResponse:
    """Token requests, refused ones, and requests that came with an expired token."""
    tokens = issuer(request)
    return JSONResponse(
        {
            "token_requests": tokens.token_requests,
            "refused_token_requests": tokens.refused_token_requests,
            "expired_token_requests": tokens.expired_token_requests,
        }
    )
