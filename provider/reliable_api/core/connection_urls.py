"""Server URLs from Airflow connections, for the stores the provider keeps state in.

``Connection.get_uri()`` appends the extra as ``?__extra__=...``, which Redis and libpq clients
reject; these functions build the URL each client expects, with credentials from the connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import Connection


def _credentials(conn: Connection) -> str:
    if not conn.login and not conn.password:
        return ""
    user = quote(conn.login or "", safe="")
    password = f":{quote(conn.password, safe='')}" if conn.password else ""
    return f"{user}{password}@"


def redis_url(conn: Connection) -> str:
    """``redis[s]://[user:password@]host:port/db``; the db from the extra's ``db`` or the schema."""
    if not conn.host:
        raise ConfigurationError(f"connection {conn.conn_id!r} has no host for Redis")
    extra = conn.extra_dejson
    scheme = "rediss" if str(extra.get("ssl", "")).lower() in ("true", "1") else "redis"
    db = extra.get("db", conn.schema or 0)
    return f"{scheme}://{_credentials(conn)}{conn.host}:{conn.port or 6379}/{db}"


def postgres_url(conn: Connection) -> str:
    """``postgresql://[user:password@]host:port/database``; the database is the schema."""
    if not conn.host:
        raise ConfigurationError(f"connection {conn.conn_id!r} has no host for PostgreSQL")
    return f"postgresql://{_credentials(conn)}{conn.host}:{conn.port or 5432}/{conn.schema or 'postgres'}"
