"""Build a limiter backend from its name, as a connection's ``limiter_backend`` names it."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from reliable_api.core.redaction import redact_url
from reliable_api.defaults import provider_home
from reliable_api.exceptions import ConfigurationError
from reliable_api.throttle.base import LimiterBackend
from reliable_api.throttle.memory import MemoryBackend
from reliable_api.throttle.postgres import PostgresBackend
from reliable_api.throttle.redis import DEFAULT_PREFIX, RedisBackend
from reliable_api.throttle.sqlite import SqliteBackend

BACKENDS = ("memory", "sqlite", "postgres", "redis")


@cache
def process_memory_backend() -> MemoryBackend:
    """The ``memory`` backend of this process: every limiter of the process shares it."""
    return MemoryBackend()


def default_sqlite_path() -> Path:
    """Where the ``sqlite`` backend keeps its file when given none: under ``$AIRFLOW_HOME``."""
    return provider_home() / "limiter.sqlite"


def make_backend(
    name: str,
    *,
    url: str | None = None,
    path: str | os.PathLike[str] | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> LimiterBackend:
    """Build the backend ``name`` and check that it is reachable.

    :param name: ``memory``, ``sqlite``, ``postgres`` or ``redis``.
    :param url: the store's URL: required for ``postgres`` and ``redis``; for ``sqlite`` a
        ``sqlite:///`` URL may stand for ``path``.
    :param path: the ``sqlite`` file; :func:`default_sqlite_path` when neither it nor ``url`` is given.
    :param prefix: the ``redis`` key prefix.
    :raises ConfigurationError: for an unknown name, a missing or invalid URL, a store that
        cannot be reached (the message names the backend and the URL with its secrets redacted),
        or ``sqlite`` under a distributed executor (see :mod:`reliable_api.state.locality`).
    """
    if name == "memory":
        return process_memory_backend()
    if name == "sqlite":
        from reliable_api.state.locality import refuse_local_state

        refuse_local_state(
            "limiter_backend 'sqlite' (one limit per machine)",
            "use limiter_backend 'redis' or 'postgres' for one limit shared by every worker",
        )
        return SqliteBackend(path if path is not None else _sqlite_path(url))
    if name in ("postgres", "redis"):
        if not url:
            raise ConfigurationError(f"limiter_backend {name!r} needs the URL of its server")
        return PostgresBackend(url) if name == "postgres" else RedisBackend(url, prefix=prefix)
    raise ConfigurationError(f"limiter_backend must be one of {', '.join(BACKENDS)}, got {name!r}")


def _sqlite_path(url: str | None) -> str | Path:
    if url is None:
        return default_sqlite_path()
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite" or not rest:
        raise ConfigurationError(
            f"limiter_backend 'sqlite' needs a sqlite:///<path> URL, got {redact_url(url)!r}"
        )
    return rest
