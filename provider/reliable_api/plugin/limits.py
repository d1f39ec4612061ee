"""The rate limits of every ``reliable_http`` connection Airflow knows, for the health page.

Every connection, not only those of the page's integrations: run metrics do not record which
connection an integration used, and an Airflow user looks for a limit by its connection id, as
in Admin > Connections (ADR 0025). Connections come from the metadata DB and from
``AIRFLOW_CONN_*`` variables; other secrets backends cannot be listed. Each limit is read from its
shared backend without taking a slot; a backend that cannot be reached is said in the row,
never as an error of the page.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reliable_api.monitoring.health_limits import Readings, WindowHealth

#: The limit key a hook counts against unless told otherwise (per-request keys are not listed).
DEFAULT_LIMIT_KEY = "default"


@dataclass(frozen=True)
class ConnectionLimit:
    """One connection's limit: its windows, or why they are unknown.

    :param backend: the ``limiter_backend`` named by the connection (``""`` when unreadable).
    :param unknown: ``"<backend> unreachable: ..."`` or the configuration error; else ``None``.
    """

    conn_id: str
    backend: str
    windows: list[WindowHealth] = field(default_factory=list)
    unknown: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "conn_id": self.conn_id,
            "limiter_backend": self.backend,
            "windows": [window.to_dict() for window in self.windows],
            "unknown": self.unknown,
        }


def connection_limits(readings: Readings) -> list[ConnectionLimit]:
    """Every ``reliable_http`` connection with a ``rate_limit``, by id, read now."""
    found = []
    for conn_id in sorted(_reliable_http_ids()):
        limit = _read(conn_id, readings)
        if limit is not None:
            found.append(limit)
    return found


def _read(conn_id: str, readings: Readings) -> ConnectionLimit | None:
    from reliable_api.exceptions import ConfigurationError
    from reliable_api.hooks.http import ReliableHttpHook

    hook = ReliableHttpHook(http_conn_id=conn_id)
    try:
        settings = hook.settings
    except ConfigurationError as error:
        return ConnectionLimit(conn_id, "", unknown=f"unknown: {error}")
    except Exception as error:  # e.g. deleted since it was listed: the row says so
        return ConnectionLimit(conn_id, "", unknown=f"unknown: {_why(error)}")
    if settings.rate_limit is None:
        return None
    backend = settings.limiter_backend
    if backend == "memory":  # each worker's own: this process would show its own, empty state
        return ConnectionLimit(conn_id, backend, unknown="unknown: a memory limit lives in each worker")
    try:
        limiter = hook.limiter
        assert limiter is not None
        try:
            usages, now = limiter.usage(), time.time()
        finally:
            limiter.backend.close()
    except Exception as error:  # any failure of the store: the row says so, the page stays up
        return ConnectionLimit(conn_id, backend, unknown=f"unknown: {backend} unreachable ({_why(error)})")
    return ConnectionLimit(conn_id, backend, readings.windows(limiter.key, limiter.windows, usages, now))


def _why(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]


def _reliable_http_ids() -> set[str]:
    """Ids of ``reliable_http`` connections in the metadata DB and in ``AIRFLOW_CONN_*`` variables."""
    from airflow.models import Connection
    from sqlalchemy import select

    from reliable_api.hooks.connection_checks import CONN_TYPE

    ids: set[str] = set()
    try:
        from airflow.utils.session import create_session

        with create_session() as session:
            ids.update(session.scalars(select(Connection.conn_id).where(Connection.conn_type == CONN_TYPE)))
    except Exception:  # a component without the metadata DB lists the variables only
        pass
    for name, value in os.environ.items():
        if name.startswith("AIRFLOW_CONN_") and _is_reliable_http(value):
            ids.add(name.removeprefix("AIRFLOW_CONN_").lower())
    return ids


def _is_reliable_http(value: str) -> bool:
    import json

    text = value.strip()
    if text.startswith("{"):
        try:
            return bool(json.loads(text).get("conn_type") == "reliable_http")
        except (ValueError, AttributeError):
            return False
    return text.split(":", 1)[0].replace("-", "_") == "reliable_http"
