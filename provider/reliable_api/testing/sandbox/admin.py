"""Introspection and control under ``/_sandbox``: health, stats, reset, config and a webhook sink.

These routes are for tests, not for the client under test: the gateway never limits, faults or
counts them.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from reliable_api.testing.sandbox.api import State, json_object
from reliable_api.testing.sandbox.config import ConfigError
from reliable_api.testing.sandbox.errors import ApiError, invalid

router = APIRouter(prefix="/_sandbox")


@router.get("/health")
async def health() -> JSONResponse:
    """200 once the sandbox serves."""
    return JSONResponse({"status": "ok"})


@router.get("/stats")
async def stats(state: State) -> JSONResponse:
    """The traffic counters (see :mod:`reliable_api.testing.sandbox.stats`)."""
    return JSONResponse(state.stats.snapshot())


@router.post("/reset")
async def reset(request: Request, state: State) -> JSONResponse:
    """Clear counters, limiter, idempotency keys, fault occurrences and webhooks.

    Body (optional): ``{"data": true}`` also regenerates the records from the seed,
    ``{"config": true}`` also returns to the configuration the sandbox started with.
    """
    options = await json_object(request) if await request.body() else {}
    for name, value in options.items():
        if name not in ("data", "config") or not isinstance(value, bool):
            raise invalid(name, "reset takes only the booleans data and config")
    state.reset(data=bool(options.get("data")), config=bool(options.get("config")))
    return JSONResponse({"status": "reset"})


@router.get("/config")
async def read_config(state: State) -> JSONResponse:
    """The running configuration."""
    return JSONResponse(state.config.to_json())


@router.patch("/config")
async def change_config(request: Request, state: State) -> JSONResponse:
    """Change options of the running sandbox; answers with the whole new configuration.

    Data options (``seed``, ``contacts``, ``companies``) reach the records at the next reset with
    ``{"data": true}``; the seed reaches fault decisions at once.
    """
    changes = await json_object(request)
    try:
        state.configure(state.config.with_changes(changes))
    except ConfigError as error:
        raise ApiError(422, "invalid_config", str(error), option=" + ".join(error.options)) from None
    return JSONResponse(state.config.to_json())


#: The longest ``delay`` a webhook delivery may ask for, so a test cannot stall the sandbox for long.
MAX_WEBHOOK_DELAY = 30.0


@router.post("/webhook/{channel}", status_code=201)
async def receive_webhook(
    channel: str, request: Request, state: State, status: int = 201, delay: float = 0.0
) -> JSONResponse:
    """Store a JSON delivery with its time, headers (Authorization left out) and the status answered.

    For testing senders against a failing receiver: ``?status=500`` answers with that status (the
    delivery is still stored), ``?delay=5`` waits that many seconds before answering.
    """
    if not 200 <= status <= 599:
        raise invalid("status", "status must be an HTTP status between 200 and 599")
    if not 0 <= delay <= MAX_WEBHOOK_DELAY:
        raise invalid("delay", f"delay must be between 0 and {MAX_WEBHOOK_DELAY:g} seconds")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise invalid("body", "a webhook body must be JSON") from None
    headers = {name: value for name, value in request.headers.items() if name != "authorization"}
    state.webhooks.setdefault(channel, []).append(
        {"received_at": state.timestamp(), "headers": headers, "body": body, "status": status}
    )
    await asyncio.sleep(delay)
    return JSONResponse({"stored": len(state.webhooks[channel])}, status_code=status)


@router.get("/webhook/{channel}")
async def list_webhooks(channel: str, state: State) -> JSONResponse:
    """The deliveries to ``channel``, oldest first."""
    return JSONResponse({"data": state.webhooks.get(channel, [])})


@router.delete("/webhook/{channel}", status_code=204)
async def clear_webhooks(channel: str, state: State) -> Response:
    """Forget the deliveries to ``channel``."""
    state.webhooks.pop(channel, None)
    return Response(status_code=204)
