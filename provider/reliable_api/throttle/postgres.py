"""The ``postgres`` limiter backend: exact across machines, on the database server's clock.

Every decision is one call of a PL/pgSQL function, created with the table: it locks the limit's
row (``FOR UPDATE``), reads ``clock_timestamp()`` once the lock is held, decides with the
arithmetic of :mod:`reliable_api.throttle.base` and updates the row: one round trip, and the row
lock held only inside the server. The windows travel as arrays, one element per window.

Each connection commits without waiting for the WAL flush (``synchronous_commit = off``): a server
crash may lose the last few milliseconds of limiter decisions, which is harmless, and a decision
costs about a fifth. That is a session setting, so the backend needs a session of its own (not a
transaction-pooling PgBouncer). ``psycopg2`` is imported when a backend is built, never when this
module is.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Sequence
from typing import Any

from reliable_api.core.redaction import redact_url
from reliable_api.throttle.base import Confirmation, LimiterState, Reservation, Window
from reliable_api.throttle.errors import failed, unreachable

TABLE = "reliable_api_rate_limits"

# The row of a limit, created locked when absent. Every function starts with it.
_LOCK_ROW = f"""
  SELECT * INTO r FROM {TABLE} WHERE key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO {TABLE} (key) VALUES (p_key) ON CONFLICT DO NOTHING;
    SELECT * INTO r FROM {TABLE} WHERE key = p_key FOR UPDATE;
  END IF;
  t_now := EXTRACT(EPOCH FROM clock_timestamp())::float8;"""

# A window is rolling when its offset is NULL; calendar windows start at multiples of the period.
_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION {TABLE}_start(period float8, offs float8, t float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT floor((t + offs) / period) * period - offs $$;

CREATE OR REPLACE FUNCTION {TABLE}_reserve(
  p_key text, intervals float8[], bursts float8[], periods float8[], offsets float8[],
  cost float8, max_wait float8, OUT granted boolean, OUT wait float8, OUT current_interval float8,
  OUT binding int
) LANGUAGE plpgsql AS $$
DECLARE r {TABLE}; t_now float8; allowed float8; here float8; s float8; iv float8; t_at float8;
  n int := array_length(intervals, 1); new_tats float8[];
BEGIN{_LOCK_ROW}
  current_interval := GREATEST(intervals[1], COALESCE(r.emission_interval, intervals[1]));
  allowed := r.paused_until; binding := -1;
  FOR i IN 1..n LOOP
    iv := CASE WHEN i = 1 THEN current_interval ELSE intervals[i] END;
    here := t_now;
    IF offsets[i] IS NULL THEN
      here := GREATEST(COALESCE(r.tats[i], 0), t_now) + (LEAST(cost, bursts[i]) - bursts[i]) * iv;
    ELSE
      s := {TABLE}_start(periods[i], offsets[i], t_now);
      IF GREATEST(COALESCE(r.tats[i], 0), s) + LEAST(cost, periods[i] / iv) * iv > s + periods[i] + 1e-9 THEN
        here := s + periods[i];
      END IF;
    END IF;
    IF here > GREATEST(allowed, t_now) THEN allowed := here; binding := i - 1; END IF;
  END LOOP;
  wait := GREATEST(0, allowed - t_now);
  granted := wait <= max_wait;
  IF granted THEN
    t_at := t_now + wait;
    new_tats := r.tats;
    FOR i IN 1..n LOOP
      iv := CASE WHEN i = 1 THEN current_interval ELSE intervals[i] END;
      s := CASE WHEN offsets[i] IS NULL THEN t_at ELSE {TABLE}_start(periods[i], offsets[i], t_at) END;
      new_tats[i] := GREATEST(COALESCE(r.tats[i], 0), s) + cost * iv;
    END LOOP;
    UPDATE {TABLE} SET tats = new_tats WHERE key = p_key;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION {TABLE}_pause(p_key text, seconds float8) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE r {TABLE}; t_now float8;
BEGIN{_LOCK_ROW}
  UPDATE {TABLE} SET paused_until = GREATEST(r.paused_until, t_now + seconds) WHERE key = p_key;
END $$;

CREATE OR REPLACE FUNCTION {TABLE}_adjust(
  p_key text, p_interval float8, factor float8, p_ceiling float8, cooldown float8
) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r {TABLE}; t_now float8; current_interval float8; adjusted float8;
BEGIN{_LOCK_ROW}
  current_interval := GREATEST(p_interval, COALESCE(r.emission_interval, p_interval));
  IF t_now - r.interval_changed_at < cooldown THEN RETURN current_interval; END IF;
  adjusted := LEAST(p_ceiling, GREATEST(p_interval, current_interval * factor));
  UPDATE {TABLE} SET emission_interval = adjusted, interval_changed_at = t_now WHERE key = p_key;
  RETURN adjusted;
END $$;

DROP FUNCTION IF EXISTS {TABLE}_confirm(text, float8);
DO $$ BEGIN  -- an older confirm without sent_at cannot be replaced in place
  IF EXISTS (SELECT 1 FROM pg_proc
             WHERE proname = '{TABLE}_confirm' AND NOT 'sent_at' = ANY(proargnames)) THEN
    DROP FUNCTION {TABLE}_confirm(text, float8, float8);
  END IF;
END $$;
CREATE OR REPLACE FUNCTION {TABLE}_confirm(
  p_key text, guard float8, share float8, OUT paused_for float8, OUT wait float8,
  OUT current_interval float8, OUT sent_at float8
) LANGUAGE plpgsql AS $$
DECLARE r {TABLE}; t_now float8;
BEGIN{_LOCK_ROW}
  current_interval := COALESCE(r.emission_interval, 0);
  paused_for := GREATEST(0, r.paused_until - t_now);
  wait := GREATEST(0, r.last_sent + GREATEST(guard, share * current_interval) - t_now);
  sent_at := 0;
  IF paused_for = 0 AND wait = 0 THEN
    UPDATE {TABLE} SET last_sent = t_now WHERE key = p_key;
    sent_at := t_now;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION {TABLE}_hold(p_key text, until_time float8) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE r {TABLE}; t_now float8;
BEGIN{_LOCK_ROW}
  UPDATE {TABLE} SET last_sent = GREATEST(r.last_sent, until_time) WHERE key = p_key;
END $$;

CREATE OR REPLACE FUNCTION {TABLE}_sync(
  p_key text, idx int, used float8, p_interval float8, period float8, offs float8
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r {TABLE}; t_now float8; iv float8 := p_interval; base float8 := NULL;
BEGIN{_LOCK_ROW}
  IF idx = 0 THEN iv := GREATEST(iv, COALESCE(r.emission_interval, iv)); END IF;
  base := CASE WHEN offs IS NULL THEN t_now ELSE {TABLE}_start(period, offs, t_now) END;
  UPDATE {TABLE} SET tats[idx + 1] = base + GREATEST(0, used) * iv WHERE key = p_key;
END $$"""

# Concurrent CREATE ... IF NOT EXISTS / OR REPLACE can fail on the catalog's unique indexes; the
# first worker takes this transaction-scoped advisory lock and the others wait for it (a simple
# query of several statements is one transaction).
_SCHEMA = f"""
SELECT pg_advisory_xact_lock({zlib.crc32(TABLE.encode()) & 0x7FFFFFFF});
CREATE TABLE IF NOT EXISTS {TABLE} (
    key TEXT PRIMARY KEY,
    tats DOUBLE PRECISION[] NOT NULL DEFAULT '{{}}',
    paused_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    emission_interval DOUBLE PRECISION,
    interval_changed_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_sent DOUBLE PRECISION NOT NULL DEFAULT 0
);
{_FUNCTIONS}"""


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
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _call(self, sql: str, *values: Any) -> Any:
        """Run one statement and return its first row (``None`` when it returns none)."""
        with self._lock:
            try:
                with self._connection().cursor() as cursor:
                    cursor.execute(sql, values)
                    return cursor.fetchone() if cursor.description else None
            except self._errors as error:
                self._close()
                raise failed("postgres", self.url, error) from error

    def reserve(self, key: str, *, windows: Sequence[Window], cost: float, max_wait: float) -> Reservation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.reserve`."""
        row = self._call(
            f"SELECT * FROM {TABLE}_reserve(%s, %s::float8[], %s::float8[], %s::float8[], "
            "%s::float8[], %s, %s)",
            key,
            [window.interval for window in windows],
            [float(window.burst) for window in windows],
            [window.period for window in windows],
            [window.calendar_offset for window in windows],
            float(cost),
            float(max_wait),
        )
        granted, wait, current, binding = row
        return Reservation(granted=granted, wait=wait, interval=current, window=binding)

    def pause(self, key: str, *, seconds: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.pause`."""
        self._call(f"SELECT {TABLE}_pause(%s, %s)", key, float(seconds))

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.adjust`."""
        sql = f"SELECT {TABLE}_adjust(%s, %s, %s, %s, %s)"
        return float(self._call(sql, key, interval, factor, ceiling, cooldown)[0])

    def confirm(self, key: str, *, guard: float, share: float = 0.0) -> Confirmation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.confirm`."""
        sql = f"SELECT * FROM {TABLE}_confirm(%s, %s, %s)"
        paused_for, wait, interval, sent_at = self._call(sql, key, float(guard), float(share))
        return Confirmation(float(paused_for), float(wait), float(interval), float(sent_at))

    def hold(self, key: str, *, until: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.hold`."""
        self._call(f"SELECT {TABLE}_hold(%s, %s)", key, float(until))

    def sync(self, key: str, *, windows: Sequence[Window], index: int, used: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.sync`."""
        window = windows[index]
        sql = f"SELECT {TABLE}_sync(%s, %s, %s, %s, %s, %s::float8)"
        self._call(sql, key, index, float(used), window.interval, window.period, window.calendar_offset)

    def state(self, key: str) -> tuple[LimiterState, float]:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.state`."""
        row = self._call(
            "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8, tats, paused_until, emission_interval, "
            f"interval_changed_at, last_sent FROM (SELECT 1) one LEFT JOIN {TABLE} ON key = %s",
            key,
        )
        now, tats, paused_until, interval, changed_at, last_sent = row
        if tats is None:
            return LimiterState(), now
        return (
            LimiterState(
                tats=tuple(tats),
                paused_until=paused_until,
                interval=interval,
                interval_changed_at=changed_at,
                last_sent=last_sent,
            ),
            now,
        )

    def _close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            self._close()
