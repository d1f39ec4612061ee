"""Pytest fixtures for the sandbox API, registered through the ``pytest11`` entry point.

- ``sandbox_server`` (session): one sandbox with default options for the whole run;
- ``sandbox`` (function): that server, reset before the test (counters, limiter, idempotency
  keys, webhooks, records regenerated from the seed, startup options restored);
- ``make_sandbox`` (function): a factory, ``make_sandbox(rate=5, api_keys=["k"])``, for tests that
  need their own options; each server it starts is stopped after the test.

This module is imported by every pytest run of every user of the provider, so it imports the
sandbox only inside the fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from reliable_api.testing.sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """A sandbox with default options, shared by the session (not reset; see ``sandbox``)."""
    from reliable_api.testing.sandbox.server import SandboxServer

    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox, reset to its starting data and options for this test."""
    sandbox_server.reset(data=True, config=True)
    return sandbox_server


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """A factory starting a sandbox with the given options; all are stopped after the test."""
    from reliable_api.testing.sandbox.server import SandboxServer

    servers: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        server = SandboxServer(**options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
