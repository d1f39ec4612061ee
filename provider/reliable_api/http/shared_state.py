"""Small JSON states shared by every worker of a connection, where its rate limit lives.

The circuit breaker (and anything else a connection's workers must agree on) keeps a JSON object
per key, changed by one atomic read-modify-write: :meth:`SharedState.update` hands the current
value to a pure function and stores what it returns, with no other writer in between. The store
is the connection's ``limiter_backend``: ``memory`` (one process), ``sqlite`` (one machine, a
file next to the limiter's), ``postgres`` (a table in the state DB, row locked ``FOR UPDATE``) or
``redis`` (``WATCH``/``MULTI``, retried on a concurrent write). Drivers are imported when a store
is built, never with this module.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from reliable_api.core.redaction import redact_url
from reliable_api.exceptions import ConfigurationError, TransientError

T = TypeVar("T")
State = dict[str, Any]
#: The current value (``None``: never written) -> (what the caller gets, the value to store).
Change = Callable[[State | None], tuple[T, State | None]]

TABLE = "reliable_api_shared_state"
DEFAULT_PREFIX = "reliable_api:shared:"


class SharedState(Protocol):
    """A store of JSON objects by key, each changed atomically."""

    def update(self, key: str, change: Change[T]) -> T:
        """Apply ``change`` to the value of ``key`` atomically; return its first element."""


class MemoryState:
    """One process's states (threads share them; other processes do not)."""

    def __init__(self) -> None:
        self._values: dict[str, State] = {}
        self._lock = threading.Lock()

    def update(self, key: str, change: Change[T]) -> T:
        """See :meth:`SharedState.update`."""
        with self._lock:
            result, new = change(self._values.get(key))
            if new is not None:
                self._values[key] = new
            return result


class SqliteState:
    """States in an SQLite file every process of the machine opens.

    :raises ConfigurationError: when the file cannot be created or opened.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        try:
            with self._lock:
                self._connection()
        except (OSError, sqlite3.Error) as error:
            raise ConfigurationError(f"shared state sqlite at {self.path} is unreachable: {error}") from error

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # never across a fork
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def update(self, key: str, change: Change[T]) -> T:
        """See :meth:`SharedState.update`."""
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(f"SELECT value FROM {TABLE} WHERE key = ?", (key,)).fetchone()
                    result, new = change(json.loads(row[0]) if row else None)
                    if new is not None:
                        conn.execute(
                            f"INSERT INTO {TABLE} (key, value) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (key, json.dumps(new)),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise TransientError(f"shared state sqlite at {self.path} failed: {error}") from error
        return result


class PostgresState:
    """States in a table of a PostgreSQL database, each change under the row's lock.

    :raises ConfigurationError: when psycopg2 is missing or the server cannot be reached.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.where = redact_url(url)
        self._url = url
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        try:
            with self._lock:
                self._connection()
        except Exception as error:
            raise ConfigurationError(
                f"shared state postgres at {self.where} is unreachable: {error}"
            ) from error

    def _connection(self) -> Any:
        import psycopg2

        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            conn = psycopg2.connect(
                self._url.replace("postgresql+psycopg2://", "postgresql://"),
                connect_timeout=int(self._timeout),
            )
            with conn, conn.cursor() as cursor:
                # Workers starting at once on a fresh database: concurrent CREATE ... IF NOT EXISTS
                # can fail on the catalog's unique index; the first takes this transaction-scoped
                # lock, the others wait for it and find the table.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(TABLE.encode()) & 0x7FFFFFFF,))
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, value text NOT NULL)"
                )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def update(self, key: str, change: Change[T]) -> T:
        """See :meth:`SharedState.update`."""
        import psycopg2

        with self._lock:
            try:
                conn = self._connection()
                with conn, conn.cursor() as cursor:  # one transaction: commit, or roll back on error
                    cursor.execute(
                        f"INSERT INTO {TABLE} (key, value) VALUES (%s, 'null') ON CONFLICT DO NOTHING", (key,)
                    )
                    cursor.execute(f"SELECT value FROM {TABLE} WHERE key = %s FOR UPDATE", (key,))
                    result, new = change(json.loads(cursor.fetchone()[0]))
                    if new is not None:
                        cursor.execute(
                            f"UPDATE {TABLE} SET value = %s WHERE key = %s", (json.dumps(new), key)
                        )
            except psycopg2.Error as error:
                raise TransientError(f"shared state postgres at {self.where} failed: {error}") from error
        return result


class RedisState:
    """States in Redis strings, each change an optimistic transaction (``WATCH``, ``MULTI``).

    :raises ConfigurationError: when redis-py is missing or the server cannot be reached.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, timeout: float = 5.0) -> None:
        self.where = redact_url(url)
        self.prefix = prefix
        try:
            import redis

            self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
            self._client.ping()
        except Exception as error:
            raise ConfigurationError(f"shared state redis at {self.where} is unreachable: {error}") from error

    def update(self, key: str, change: Change[T]) -> T:
        """See :meth:`SharedState.update`."""
        import redis

        name = self.prefix + key
        try:
            pipe: Any
            with self._client.pipeline() as pipe:  # redis-py's pipeline is loosely typed
                while True:
                    try:
                        pipe.watch(name)
                        raw = pipe.get(name)
                        result, new = change(json.loads(raw) if raw is not None else None)
                        pipe.multi()
                        if new is not None:
                            pipe.set(name, json.dumps(new))
                        pipe.execute()
                        return result
                    except redis.WatchError:  # another worker wrote first: decide again on its value
                        continue
        except redis.RedisError as error:
            raise TransientError(f"shared state redis at {self.where} failed: {error}") from error


_MEMORY = MemoryState()


def shared_state(
    backend: str,
    *,
    url: str | None = None,
    path: str | os.PathLike[str] | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> SharedState:
    """The store of a connection's ``limiter_backend``.

    :param backend: ``memory``, ``sqlite``, ``postgres`` or ``redis``.
    :param url: the server's URL, for ``postgres`` and ``redis``.
    :param path: the ``sqlite`` file; default ``shared_state.sqlite`` in the provider's home.
    :param prefix: the ``redis`` key prefix.
    :raises ConfigurationError: for an unknown backend, a missing URL or an unreachable store.
    """
    if backend == "memory":
        return _MEMORY
    if backend == "sqlite":
        from reliable_api.defaults import provider_home

        return SqliteState(path if path is not None else provider_home() / "shared_state.sqlite")
    if backend in ("postgres", "redis"):
        if not url:
            raise ConfigurationError(f"the {backend} shared state needs the server's URL")
        return PostgresState(url) if backend == "postgres" else RedisState(url, prefix=prefix)
    raise ConfigurationError(f"limiter_backend must be memory, sqlite, postgres or redis, got {backend!r}")
