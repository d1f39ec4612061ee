"""Assembly of the sandbox: FastAPI routes behind the gateway, errors as JSON."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from reliable_api.testing.sandbox import admin, api, oauth
from reliable_api.testing.sandbox.config import SandboxConfig
from reliable_api.testing.sandbox.errors import ApiError
from reliable_api.testing.sandbox.gateway import Gateway
from reliable_api.testing.sandbox.state import SandboxState


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(error.body, status_code=error.status, headers=dict(error.headers))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    # Unknown routes and methods answer in the same JSON error shape as everything else.
    assert isinstance(error, HTTPException)
    error_type = "not_found" if error.status_code == 404 else "http_error"
    body = {"error": {"type": error_type, "message": str(error.detail)}}
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def create_app(
    config: SandboxConfig | None = None,
    *,
    monotonic: Callable[[], int] = time.monotonic_ns,
    wall: Callable[[], float] = time.time,
) -> Gateway:
    """The sandbox as an ASGI app; its state is ``app.state``.

    :param config: how the sandbox behaves; default :class:`SandboxConfig()`.
    :param monotonic: monotonic clock in nanoseconds.
    :param wall: wall clock in epoch seconds.
    """
    state = SandboxState(config or SandboxConfig(), monotonic=monotonic, wall=wall)
    routes = FastAPI(
        title="reliable-api sandbox",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    routes.state.sandbox = state
    routes.state.oauth = tokens = oauth.TokenIssuer(clock=wall)
    routes.include_router(oauth.router)
    routes.include_router(admin.router)
    routes.include_router(api.router)
    routes.add_exception_handler(ApiError, _api_error)
    routes.add_exception_handler(HTTPException, _http_error)
    gateway = Gateway(routes, state)
    gateway.tokens = tokens
    return gateway
