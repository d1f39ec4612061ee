"""Read a ``reliable_http`` connection the way its author meant it, or say how to write it.

Two traps of Airflow's connection handling that a new user walks into:

- A URI scheme may not contain ``_`` (RFC 3986), so ``reliable_http://host:8111?rate_limit=10%2Fs``
  does not parse as a URI: Airflow stores an empty type and host and a mangled ``schema``, and the
  request fails much later with "Missing scheme in eliable_http//host:8111://". Airflow spells
  types with ``_`` as ``-`` in URIs (``reliable-http://``).
- ``Connection.extra_dejson`` hands every extra value to the secret masker, which warns about
  values shorter than 5 characters: ``"10/s"`` or ``"true"`` are settings, not secrets.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: The one spelling of this provider's connection type.
CONN_TYPE = "reliable_http"


def example_for(conn_id: str, host: str = "https://api.example.com") -> str:
    """How to write connection ``conn_id`` as an environment variable, in both forms."""
    bare = host.split("://", 1)[-1]
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    as_json = json.dumps({"conn_type": "reliable_http", "host": host, "extra": {"rate_limit": "10/s"}})
    return f"{variable}='{as_json}' or, as a URI (type spelled with '-'), {variable}='reliable-http://{bare}?rate_limit=10%2Fs'"


def check_connection(conn: Connection) -> None:
    """Refuse a connection whose type or URI spelling cannot be what its author meant.

    :raises ConfigurationError: naming the connection and showing a correct example.
    """
    conn_type = (conn.conn_type or "").strip()
    schema = conn.schema or ""
    if not conn_type and not conn.host and "//" in schema:
        # What Airflow makes of "reliable_http://host:port?...": everything after the first
        # character lands in ``schema``.
        host = "http://" + schema.split("//", 1)[1].split("?", 1)[0]
        raise ConfigurationError(
            f"connection {conn.conn_id!r} was given as a URI with '_' in its scheme "
            "(like 'reliable_http://'), which a URI cannot hold, so Airflow read no host from it: "
            "write " + example_for(conn.conn_id, host)
        )
    # Other types (http, generic, ...) work as with HttpHook; a near miss of ours is a typo.
    normalized = conn_type.lower().replace("-", "_")
    if "reliable" in normalized and normalized != CONN_TYPE:
        raise ConfigurationError(
            f"connection {conn.conn_id!r} has type {conn_type!r}; the type is spelled "
            f"{CONN_TYPE!r}: write {example_for(conn.conn_id)}"
        )


def connection_extra(conn: Connection) -> dict[str, Any]:
    """The connection's extra as a dict, without handing its values to the secret masker.

    :raises ConfigurationError: when the extra is not a JSON object.
    """
    if not conn.extra:
        return {}
    try:
        extra = json.loads(conn.extra)
    except ValueError:
        extra = None
    if not isinstance(extra, dict):
        raise ConfigurationError(
            f"the extra of connection {conn.conn_id!r} must be a JSON object, "
            'e.g. {"rate_limit": "10/s", "max_retries": 5}'
        )
    return extra
