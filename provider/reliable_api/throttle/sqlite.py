"""The ``sqlite`` limiter backend: exact across the processes of one machine.

Each decision runs in a ``BEGIN IMMEDIATE`` transaction, which takes the database's write lock
before reading, so no two processes decide from the same state. WAL mode lets readers
(:meth:`state`) go on meanwhile; ``synchronous=NORMAL`` skips the fsync per decision (a
power cut may lose the last decisions, never corrupt the file). The stdlib driver keeps a
decision at tens of microseconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reliable_api.throttle.base import LimiterState
from reliable_api.throttle.errors import failed, unreachable
from reliable_api.throttle.local import Decide, LocalBackend, T

# The TATs of a limit's windows are a JSON list: a limit has one to a few windows.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reliable_api_rate_limits (
    key TEXT PRIMARY KEY,
    tats TEXT NOT NULL,
    paused_until REAL NOT NULL,
    emission_interval REAL,
    interval_changed_at REAL NOT NULL,
    last_sent REAL NOT NULL
)"""
_COLUMNS = "tats, paused_until, emission_interval, interval_changed_at, last_sent"
_SELECT = f"SELECT {_COLUMNS} FROM reliable_api_rate_limits WHERE key = ?"
_UPSERT = "INSERT OR REPLACE INTO reliable_api_rate_limits VALUES (?, ?, ?, ?, ?, ?)"


class SqliteBackend(LocalBackend):
    """Limiter state in an SQLite file that every process of the machine opens.

    :param path: the database file; its folder is created when missing.
    :param now: the clock, in seconds. The wall clock by default: every process of the machine
        shares it, and unlike the monotonic clock it survives a reboot the file outlives.
    :param timeout: seconds to wait for another process's transaction before failing.
    :raises ConfigurationError: when the file cannot be created or opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        now: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.path = os.fspath(path)
        self._now = now
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        try:
            with self._lock:
                self._connection()
        except (OSError, sqlite3.Error) as error:
            raise unreachable("sqlite", self.path, error) from error

    def _connection(self) -> sqlite3.Connection:
        # A connection must not cross a fork: a forked worker opens its own (and leaves the
        # parent's alone, since closing it could checkpoint the parent's WAL).
        if self._conn is None or self._pid != os.getpid():
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _update(self, key: str, decide: Decide[T]) -> T:
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    state = _state(conn.execute(_SELECT, (key,)).fetchone())
                    answer, new_state = decide(state, self._now())
                    if new_state != state:
                        conn.execute(
                            _UPSERT,
                            (
                                key,
                                json.dumps(new_state.tats),
                                new_state.paused_until,
                                new_state.interval,
                                new_state.interval_changed_at,
                                new_state.last_sent,
                            ),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise failed("sqlite", self.path, error) from error
        return answer

    def _read(self, key: str) -> tuple[LimiterState, float]:
        with self._lock:
            try:
                row = self._connection().execute(_SELECT, (key,)).fetchone()
            except sqlite3.Error as error:
                raise failed("sqlite", self.path, error) from error
            return _state(row), self._now()

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _state(row: tuple[str, float, float | None, float, float] | None) -> LimiterState:
    if row is None:
        return LimiterState()
    tats, paused_until, interval, interval_changed_at, last_sent = row
    return LimiterState(
        tats=tuple(json.loads(tats)),
        paused_until=paused_until,
        interval=interval,
        interval_changed_at=interval_changed_at,
        last_sent=last_sent,
    )
