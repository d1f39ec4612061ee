"""Pytest fixtures for the sandbox API, registered through the ``pytest11`` entry point.

Every user of the provider gets them in every pytest run, so they carry the provider's prefix:

- ``reliable_api_sandbox_server`` (session): one sandbox with default options for the whole run;
- ``reliable_api_sandbox`` (function): that server, reset before the test (counters, limiter,
  idempotency keys, webhooks, records regenerated from the seed, startup options restored);
- ``reliable_api_make_sandbox`` (function): a factory, ``reliable_api_make_sandbox(rate=5,
  api_keys=["k"])``, for tests that need their own options; each server it starts is stopped
  after the test.

The unprefixed names of the first release (``sandbox_server``, ``sandbox``, ``make_sandbox``)
still work and warn that they are deprecated; a fixture of the same name in a ``conftest.py``
wins over them, as pytest's rules say.

This module is imported by every pytest run of every user of the provider, so it imports the
sandbox only inside the fixtures.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from reliable_api.testing.sandbox.server import SandboxServer


class ReliableApiFixtureDeprecationWarning(DeprecationWarning):
    """An unprefixed fixture name of the provider's pytest plugin was used."""


@pytest.fixture(scope="session")
def reliable_api_sandbox_server() -> Iterator[SandboxServer]:
    """A sandbox with default options, shared by the session (not reset; see ``reliable_api_sandbox``)."""
    from reliable_api.testing.sandbox.server import SandboxServer

    with SandboxServer() as server:
        yield server


@pytest.fixture
def reliable_api_sandbox(reliable_api_sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox, reset to its starting data and options for this test."""
    reliable_api_sandbox_server.reset(data=True, config=True)
    return reliable_api_sandbox_server


@pytest.fixture
def reliable_api_make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
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


def _deprecated(old: str) -> None:
    warnings.warn(
        f"the fixture {old!r} is deprecated: use 'reliable_api_{old}'",
        ReliableApiFixtureDeprecationWarning,
        stacklevel=2,
    )


@pytest.fixture(scope="session")
def sandbox_server(reliable_api_sandbox_server: SandboxServer) -> SandboxServer:
    """Deprecated name of ``reliable_api_sandbox_server``."""
    _deprecated("sandbox_server")
    return reliable_api_sandbox_server


@pytest.fixture
def sandbox(reliable_api_sandbox: SandboxServer) -> SandboxServer:
    """Deprecated name of ``reliable_api_sandbox``."""
    _deprecated("sandbox")
    return reliable_api_sandbox


@pytest.fixture
def make_sandbox(reliable_api_make_sandbox: Callable[..., SandboxServer]) -> Callable[..., SandboxServer]:
    """Deprecated name of ``reliable_api_make_sandbox``."""
    _deprecated("make_sandbox")
    return reliable_api_make_sandbox
