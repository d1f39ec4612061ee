"""The ``redis`` limiter backend: exact across machines, on the Redis server's clock.

Each operation is one Lua script, which Redis runs atomically; the scripts read ``TIME`` so that
workers with skewed clocks agree, and decide with the arithmetic of
:func:`~reliable_api.throttle.base.gcra_reserve` / :func:`~reliable_api.throttle.base.gcra_adjust`.
A limit's state is one hash, expiring a day after its last slot or pause. ``redis`` is imported
when a backend is built, never when this module is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from reliable_api.http.redaction import redact_url
from reliable_api.throttle.base import LimiterState, Reservation
from reliable_api.throttle.errors import failed, unreachable

if TYPE_CHECKING:
    from redis.commands.core import Script

#: Seconds a limit's hash outlives its last slot or pause.
IDLE_TTL = 86400

# Every script starts from the server's time and the stored fields (absent ones read as nil).
# Numbers travel as strings with 17 digits: Redis would truncate a returned Lua number to an integer.
_PROLOGUE = f"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'tat', 'paused_until', 'interval', 'interval_changed_at')
local tat, paused_until = tonumber(stored[1]) or 0, tonumber(stored[2]) or 0
local function num(x) return string.format('%.17g', x) end
local function keep(until_time)
  redis.call('EXPIRE', KEYS[1], math.ceil(math.max(until_time - now, 0)) + {IDLE_TTL})
end
"""

_RESERVE = (
    _PROLOGUE
    + """
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local current = math.max(interval, tonumber(stored[3]) or interval)
local start = math.max(tat, now, paused_until)
local wait = math.max(0, math.max(start - (burst - 1) * current, paused_until) - now)
if wait > max_wait then return {0, num(wait), num(current)} end
redis.call('HSET', KEYS[1], 'tat', num(start + current))
keep(math.max(start + current, paused_until))
return {1, num(wait), num(current)}
"""
)

_PAUSE = (
    _PROLOGUE
    + """
paused_until = math.max(paused_until, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'paused_until', num(paused_until))
keep(math.max(tat, paused_until))
"""
)

_ADJUST = (
    _PROLOGUE
    + """
local interval, factor = tonumber(ARGV[1]), tonumber(ARGV[2])
local ceiling, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = math.max(interval, tonumber(stored[3]) or interval)
if now - (tonumber(stored[4]) or 0) < cooldown then return num(current) end
local adjusted = math.min(ceiling, math.max(interval, current * factor))
redis.call('HSET', KEYS[1], 'interval', num(adjusted), 'interval_changed_at', num(now))
keep(math.max(tat, paused_until))
return num(adjusted)
"""
)

_PAUSED_FOR = _PROLOGUE + "return num(math.max(0, paused_until - now))"

#: The default key prefix: a limit's hash is ``<prefix><limit key>``.
DEFAULT_PREFIX = "reliable_api:limiter:"


class RedisBackend:
    """Limiter state in Redis hashes, updated by Lua scripts.

    :param url: a redis-py URL (``redis://``, ``rediss://``, ``unix://``).
    :param prefix: put before every limit key, to share a Redis database with other users.
    :param timeout: seconds to wait when connecting and for each reply.
    :raises ConfigurationError: when redis-py is missing, the URL is invalid or the server
        cannot be reached; the message names the backend and the URL with its password redacted.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, timeout: float = 5.0) -> None:
        self.url = redact_url(url)
        self.prefix = prefix
        try:
            import redis
        except ImportError as error:
            raise unreachable(
                "redis", self.url, ImportError("install airflow-provider-reliable-api[redis]")
            ) from error
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        try:
            self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
            self._client.ping()
        except (ValueError, redis.RedisError) as error:
            raise unreachable("redis", self.url, error) from error
        # register_script sends EVALSHA and reloads the script itself after a server restart.
        self._reserve: Script = self._client.register_script(_RESERVE)
        self._pause: Script = self._client.register_script(_PAUSE)
        self._adjust: Script = self._client.register_script(_ADJUST)
        self._paused_for: Script = self._client.register_script(_PAUSED_FOR)

    def _run(self, script: Script, key: str, *args: float) -> Any:
        try:
            return script(keys=[self.prefix + key], args=[repr(float(arg)) for arg in args])
        except self._errors as error:
            raise failed("redis", self.url, error) from error

    def reserve(self, key: str, *, interval: float, burst: int, max_wait: float) -> Reservation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.reserve`."""
        granted, wait, current = self._run(self._reserve, key, interval, burst, max_wait)
        return Reservation(granted=bool(granted), wait=float(wait), interval=float(current))

    def pause(self, key: str, *, seconds: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.pause`."""
        self._run(self._pause, key, seconds)

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.adjust`."""
        return float(self._run(self._adjust, key, interval, factor, ceiling, cooldown))

    def paused_for(self, key: str) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.paused_for`."""
        return float(self._run(self._paused_for, key))

    def state(self, key: str) -> LimiterState:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.state`."""
        try:
            fields = ["tat", "paused_until", "interval", "interval_changed_at"]
            stored = cast("list[bytes | None]", self._client.hmget(self.prefix + key, fields))
            tat, paused_until, interval, changed_at = stored
        except self._errors as error:
            raise failed("redis", self.url, error) from error
        return LimiterState(
            tat=float(tat or 0),
            paused_until=float(paused_until or 0),
            interval=None if interval is None else float(interval),
            interval_changed_at=float(changed_at or 0),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
