"""The ``postgres`` limiter backend: exact across machines, on the database server's clock.

Every decision is one SQL statement. It locks the limit's row (``FOR UPDATE``), reads
``clock_timestamp()`` after the lock is held, decides with the arithmetic of
:func:`~reliable_api.throttle.base.gcra_reserve` / :func:`~reliable_api.throttle.base.gcra_adjust`
written in SQL, and updates the row: one round trip, and the row lock held only inside the server.

Each connection prepares the statements once (planning them cost more than running them) and
commits without waiting for the WAL flush (``synchronous_commit = off``): a server crash may
lose the last few milliseconds of limiter decisions, which is harmless, and a decision costs
about a fifth. Both are session settings, so the backend needs a session of its own (not a
transaction-pooling PgBouncer). ``psycopg2`` is imported when a backend is built, never when
this module is.
"""

from __future__ import annotations

import os
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from reliable_api.http.redaction import redact_url
from reliable_api.throttle.base import LimiterState, Reservation
from reliable_api.throttle.errors import failed, unreachable

TABLE = "reliable_api_limiter"

# Concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog's unique index; the first
# worker takes this transaction-scoped advisory lock and the others wait for it.
_SCHEMA = f"""
SELECT pg_advisory_xact_lock({zlib.crc32(TABLE.encode()) & 0x7FFFFFFF});
CREATE TABLE IF NOT EXISTS {TABLE} (
    key TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL DEFAULT 0,
    paused_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    emission_interval DOUBLE PRECISION,
    interval_changed_at DOUBLE PRECISION NOT NULL DEFAULT 0
)"""

# The locked row, then the server's time read once the lock is held (MATERIALIZED keeps both
# from being inlined, which could read the clock before the lock wait).
_LOCKED = f"""
WITH locked AS MATERIALIZED (
    SELECT tat, paused_until, emission_interval, interval_changed_at
    FROM {TABLE} WHERE key = %(key)s FOR UPDATE
), timed AS MATERIALIZED (
    SELECT locked.*, EXTRACT(EPOCH FROM clock_timestamp())::float8 AS now,
           GREATEST(%(interval)s, COALESCE(emission_interval, %(interval)s)) AS current
    FROM locked
)"""

_RESERVE_SQL = f"""{_LOCKED}, slot AS MATERIALIZED (
    SELECT start, current,
           GREATEST(0, GREATEST(start - (%(burst)s - 1) * current, paused_until) - now) AS wait
    FROM (SELECT timed.*, GREATEST(tat, now, paused_until) AS start FROM timed) started
), reserved AS (
    UPDATE {TABLE} SET tat = slot.start + slot.current
    FROM slot WHERE key = %(key)s AND slot.wait <= %(max_wait)s
)
SELECT slot.wait <= %(max_wait)s, slot.wait, slot.current FROM slot"""

_ADJUST_SQL = f"""{_LOCKED}, decided AS MATERIALIZED (
    SELECT now, now - interval_changed_at >= %(cooldown)s AS due,
           LEAST(%(ceiling)s, GREATEST(%(interval)s, current * %(factor)s)) AS adjusted, current
    FROM timed
), adjusted AS (
    UPDATE {TABLE} SET emission_interval = decided.adjusted, interval_changed_at = decided.now
    FROM decided WHERE key = %(key)s AND decided.due
)
SELECT CASE WHEN due THEN adjusted ELSE current END FROM decided"""

_PAUSE_SQL = f"""
INSERT INTO {TABLE} AS limiter (key, paused_until)
VALUES (%(key)s, EXTRACT(EPOCH FROM clock_timestamp())::float8 + %(seconds)s)
ON CONFLICT (key) DO UPDATE SET paused_until = GREATEST(limiter.paused_until, EXCLUDED.paused_until)"""

_PAUSED_FOR_SQL = f"""
SELECT GREATEST(0, paused_until - EXTRACT(EPOCH FROM clock_timestamp())::float8)
FROM {TABLE} WHERE key = %(key)s"""

_STATE_SQL = (
    f"SELECT tat, paused_until, emission_interval, interval_changed_at FROM {TABLE} WHERE key = %(key)s"
)


@dataclass(frozen=True)
class _Statement:
    """A statement prepared on each connection; ``sql`` names its parameters ``%(name)s``."""

    name: str
    params: tuple[tuple[str, str], ...]  # (name, SQL type), in the order EXECUTE passes them
    sql: str

    def prepare(self) -> str:
        text = self.sql
        for number, (param, _) in enumerate(self.params, 1):
            text = text.replace(f"%({param})s", f"${number}")
        return f"PREPARE {self.name} ({', '.join(kind for _, kind in self.params)}) AS {text}"

    def execute(self) -> str:
        return f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.params))})"


_KEY = ("key", "text")
_ENSURE_ROW = _Statement(
    f"{TABLE}_ensure_row", (_KEY,), f"INSERT INTO {TABLE} (key) VALUES (%(key)s) ON CONFLICT DO NOTHING"
)
_RESERVE = _Statement(
    f"{TABLE}_reserve",
    (_KEY, ("interval", "float8"), ("burst", "int"), ("max_wait", "float8")),
    _RESERVE_SQL,
)
_ADJUST = _Statement(
    f"{TABLE}_adjust",
    (_KEY, ("interval", "float8"), ("factor", "float8"), ("ceiling", "float8"), ("cooldown", "float8")),
    _ADJUST_SQL,
)
_PAUSE = _Statement(f"{TABLE}_pause", (_KEY, ("seconds", "float8")), _PAUSE_SQL)
_PAUSED_FOR = _Statement(f"{TABLE}_paused_for", (_KEY,), _PAUSED_FOR_SQL)
_STATE = _Statement(f"{TABLE}_state", (_KEY,), _STATE_SQL)
_STATEMENTS = (_ENSURE_ROW, _RESERVE, _ADJUST, _PAUSE, _PAUSED_FOR, _STATE)


def libpq_dsn(url: str) -> str:
    """``url`` as libpq takes it: a SQLAlchemy URL loses its ``+driver``; a DSN stays as it is."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith(("postgresql+", "postgres+")):
        return f"postgresql://{rest}"
    return url


class PostgresBackend:
    """Limiter state in the ``reliable_api_limiter`` table, created on first use.

    :param url: a libpq URL or DSN, or a SQLAlchemy URL (``postgresql+psycopg2://...``).
    :param connect_timeout: seconds to wait for the server when connecting.
    :raises ConfigurationError: when psycopg2 is missing or the server cannot be reached; the
        message names the backend and the URL with its password redacted.
    """

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self.url = redact_url(url)
        self._dsn = libpq_dsn(url)
        self._connect_timeout = max(1, round(connect_timeout))
        self._lock = threading.Lock()
        self._conn: Any = None  # a psycopg2 connection (psycopg2 ships no type hints)
        self._pid = 0
        self._rows: set[str] = set()
        try:
            import psycopg2
        except ImportError as error:
            raise unreachable(
                "postgres", self.url, ImportError("install airflow-provider-reliable-api[postgres]")
            ) from error
        self._psycopg2 = psycopg2
        self._errors: tuple[type[Exception], ...] = (psycopg2.Error,)
        try:
            with self._lock:
                self._connection()
        except psycopg2.Error as error:
            raise unreachable("postgres", self.url, error) from error

    def _connection(self) -> Any:
        # psycopg2 connections must not cross a fork: a forked worker opens its own.
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            conn = self._psycopg2.connect(
                self._dsn, connect_timeout=self._connect_timeout, application_name="reliable_api limiter"
            )
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(_SCHEMA)
                cursor.execute("SET synchronous_commit TO off")
                for statement in _STATEMENTS:
                    cursor.execute(statement.prepare())
            self._conn, self._pid, self._rows = conn, os.getpid(), set()
        return self._conn

    def _execute(self, statement: _Statement, *values: Any, row_needed: bool = False) -> Any:
        """Run one statement and return its first row (``None`` when it returns none).

        :param values: the statement's parameters, the limit's key first.
        :param row_needed: create the limit's row first, once per key and connection: the
            statements that lock the row need one to lock.
        """
        key = values[0]
        with self._lock:
            try:
                for _ in range(2):
                    with self._connection().cursor() as cursor:
                        if row_needed and key not in self._rows:
                            cursor.execute(_ENSURE_ROW.execute(), (key,))
                            self._rows.add(key)
                        cursor.execute(statement.execute(), values)
                        row = cursor.fetchone() if cursor.description else None
                    if row is not None or not row_needed:
                        return row
                    self._rows.discard(key)  # the row was deleted meanwhile: create it again
            except self._errors as error:
                self._close()
                raise failed("postgres", self.url, error) from error
        raise failed("postgres", self.url, RuntimeError(f"the row of limit {key!r} keeps disappearing"))

    def reserve(self, key: str, *, interval: float, burst: int, max_wait: float) -> Reservation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.reserve`."""
        row = self._execute(_RESERVE, key, interval, burst, max_wait, row_needed=True)
        assert row is not None
        granted, wait, current = row
        return Reservation(granted=granted, wait=wait, interval=current)

    def pause(self, key: str, *, seconds: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.pause`."""
        self._execute(_PAUSE, key, seconds)

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.adjust`."""
        row = self._execute(_ADJUST, key, interval, factor, ceiling, cooldown, row_needed=True)
        assert row is not None
        return float(row[0])

    def paused_for(self, key: str) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.paused_for`."""
        row = self._execute(_PAUSED_FOR, key)
        return 0.0 if row is None else float(row[0])

    def state(self, key: str) -> LimiterState:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.state`."""
        row = self._execute(_STATE, key)
        if row is None:
            return LimiterState()
        tat, paused_until, interval, interval_changed_at = row
        return LimiterState(
            tat=tat, paused_until=paused_until, interval=interval, interval_changed_at=interval_changed_at
        )

    def _close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            self._close()
