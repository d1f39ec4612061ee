"""The sandbox API: a CRM-like SaaS API with messy data, rate limits, idempotency keys and faults.

Start it with ``python -m reliable_api.testing.sandbox --port 8000 [options]``, with
:class:`SandboxServer` (a subprocess, as a context manager), or with the pytest fixtures
``sandbox`` and ``make_sandbox``.

Modules:

- ``config``: the options (:class:`SandboxConfig`), shared by CLI, fixtures and ``/_sandbox/config``;
- ``cli`` and ``__main__``: the command line and the uvicorn runner;
- ``server``: :class:`SandboxServer`, the subprocess manager;
- ``app``: assembly; ``gateway``: auth, rate limit, faults, idempotency in front of the routes;
- ``api``: the ``/v1`` routes; ``admin``: the ``/_sandbox`` routes;
- ``ratelimit`` and ``headers``: GCRA and the rate-limit header families;
- ``data``: the seeded messy records; ``store``: records and natural-key indexes;
- ``pagination``, ``idempotency``, ``faults``, ``stats``, ``state``, ``errors``.

Only light modules are imported here: the FastAPI app loads when the server process starts.
"""

from __future__ import annotations

from reliable_api.testing.sandbox.config import ConfigError, SandboxConfig
from reliable_api.testing.sandbox.data import generate_companies, generate_contacts
from reliable_api.testing.sandbox.server import SandboxServer, SandboxStartError

__all__ = [
    "ConfigError",
    "SandboxConfig",
    "SandboxServer",
    "SandboxStartError",
    "generate_companies",
    "generate_contacts",
]
