"""Engines for the state DB: from a SQLAlchemy URL (plain), or from an Airflow connection (thin).

SQLite gets WAL and a busy timeout on every connection, so that many task processes can write to
one file: readers never block the writer, and a writer waits for the lock instead of failing.
MySQL/MariaDB runs at READ COMMITTED, like PostgreSQL, through pymysql unless the URL names
another driver.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from reliable_api.defaults import STATE_CONN_ID, provider_home
from reliable_api.exceptions import ConfigurationError, TransientError
from reliable_api.state.dialect import is_mysql
from reliable_api.state.schema import ensure_schema

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from sqlalchemy.engine import ExceptionContext

#: The Airflow connection of the state DB unless an operator names another.
DEFAULT_STATE_CONN_ID = STATE_CONN_ID
#: How long a SQLite writer waits for the lock before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: The MySQL driver of the provider's ``mysql`` extra, for URLs and connections that name none.
MYSQL_DRIVER = "pymysql"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` with the state DB's tables created (see :func:`ensure_schema`).

    :raises ConfigurationError: for a URL SQLAlchemy cannot parse, or a newer schema.
    """
    try:
        parsed = make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError or ValueError
        kind = type(error).__name__
        raise ConfigurationError(f"the state DB URL is not a SQLAlchemy URL ({kind})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if is_mysql(parsed.get_backend_name()):
        # ``mysql://`` (what the MySQL provider's connections give) means MySQLdb to SQLAlchemy,
        # which the provider does not install.
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername=f"{parsed.drivername}+{MYSQL_DRIVER}")
        # InnoDB's default REPEATABLE READ locks the gaps next to the keys it checks, so processes
        # claiming neighbouring keys block (and deadlock) each other; READ COMMITTED, PostgreSQL's
        # default, takes no gap locks for those.
        options["isolation_level"] = "READ COMMITTED"
    engine = create_engine(parsed, pool_pre_ping=True, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _lost_state_db)
    ensure_schema(engine)
    return engine


def shared_engine(url: str) -> Engine:
    """The process-wide engine of ``url``: one pool and one schema check per process."""
    with _lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def default_sqlite_url() -> str:
    """``sqlite:///$AIRFLOW_HOME/reliable_api/state.db``: the state DB without a connection."""
    return f"sqlite:///{provider_home() / 'state.db'}"


def connection_url(conn: Connection) -> str:
    """The SQLAlchemy URL of a state DB connection.

    The extra's ``sqlalchemy_url`` wins; else a ``postgres`` connection gives
    ``postgresql+psycopg2://...``, a ``mysql`` connection ``mysql+pymysql://...`` and a ``sqlite``
    connection its file (the host field).

    :raises ConfigurationError: for another connection type without ``sqlalchemy_url``.
    """
    from reliable_api.core.connection_urls import postgres_url

    explicit = conn.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return str(explicit)
    if conn.conn_type in ("postgres", "postgresql"):
        return postgres_url(conn).replace("postgresql://", "postgresql+psycopg2://", 1)
    if conn.conn_type == "mysql":
        return _mysql_url(conn)
    if conn.conn_type == "sqlite":
        if not conn.host:
            raise ConfigurationError(f"sqlite connection {conn.conn_id!r} has no file path in host")
        return f"sqlite:///{conn.host}"
    raise ConfigurationError(
        f"connection {conn.conn_id!r} of type {conn.conn_type!r} cannot hold the state DB: use a "
        "postgres, mysql or sqlite connection, or set extra.sqlalchemy_url"
    )


def state_engine(conn_id: str = DEFAULT_STATE_CONN_ID) -> Engine:
    """The engine of the state DB behind Airflow connection ``conn_id``.

    When that connection does not exist, a SQLite file under ``$AIRFLOW_HOME`` (see
    :func:`default_sqlite_url`): fine for one machine, refused under a distributed executor (see
    :mod:`reliable_api.state.locality`). Where the state lives is logged once per process.

    :raises ConfigurationError: for a connection that cannot hold the state DB, or a missing one
        under the Celery, Kubernetes or Edge executor (the message names the connection to create).
    """
    url, source = _resolve(conn_id)
    with _lock:
        known = url in _engines
    if not known:
        log.info("reliable_api state DB: %s", _describe(url, source))
    return shared_engine(url)


def state_location(conn_id: str = DEFAULT_STATE_CONN_ID) -> str:
    """Where the state DB lives, safe to show: its URL without password, and where it came from.

    E.g. ``postgresql+psycopg2://airflow:***@db:5432/state (connection 'reliable_api_state')`` or
    ``sqlite:////home/a/airflow/reliable_api/state.db (no connection 'reliable_api_state': a
    local file)``. For the health page and the logs.

    :raises ConfigurationError: as :func:`state_engine` does.
    """
    return _describe(*_resolve(conn_id))


def _resolve(conn_id: str) -> tuple[str, str]:
    """The state DB's URL behind ``conn_id`` and where it came from."""
    from reliable_api.connections import find_connection
    from reliable_api.state.locality import refuse_local_state

    conn = find_connection(conn_id)
    if conn is not None:
        return connection_url(conn), f"connection {conn_id!r}"
    refuse_local_state(
        f"the state DB without the Airflow connection {conn_id!r} (a SQLite file under $AIRFLOW_HOME)",
        f"create the connection {conn_id!r} (postgres or mysql) to a database every worker reaches",
    )
    return default_sqlite_url(), f"no connection {conn_id!r}: a local file"


def _describe(url: str, source: str) -> str:
    return f"{make_url(url).render_as_string(hide_password=True)} ({source})"


def _mysql_url(conn: Connection) -> str:
    """``mysql+pymysql://login:password@host:port/schema?charset=utf8mb4``, quoted by SQLAlchemy.

    The connection's ``client`` extra chooses the MySQL provider's own driver, not this one.
    """
    if not conn.host:
        raise ConfigurationError(f"connection {conn.conn_id!r} has no host for MySQL")
    url = URL.create(
        f"mysql+{MYSQL_DRIVER}",
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host,
        port=conn.port or 3306,
        database=conn.schema or None,
        query={"charset": "utf8mb4"},
    )
    return url.render_as_string(hide_password=False)


def _lost_state_db(context: ExceptionContext) -> None:
    """A connection lost mid-use is a :class:`TransientError` naming the state DB.

    The driver's own words ("server closed the connection unexpectedly") name no database, and a
    task talks to several (the state DB, a warehouse, the API's limiter). A failed connect already
    names host, port and database; a lost connection found by the pool's pre-ping is reconnected.
    """
    if context.is_disconnect and not context.is_pre_ping:
        where = context.engine.url.render_as_string(hide_password=True) if context.engine else "?"
        reason = str(context.original_exception).strip().split("\n", 1)[0]
        raise TransientError(f"the state DB at {where} went away: {reason}") from context.sqlalchemy_exception


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
