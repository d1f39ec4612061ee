"""The ``redis`` limiter backend: exact across machines, on the Redis server's clock.

Each operation is one Lua script, which Redis runs atomically; the scripts read ``TIME`` so that
workers with skewed clocks agree, and decide with the arithmetic of
:func:`~reliable_api.throttle.base.gcra_reserve` / :func:`~reliable_api.throttle.base.gcra_adjust`.
A limit's state is one hash, expiring a day after its last slot or pause. ``redis`` is imported
when a backend is built, never when this module is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.core.redaction import redact_url
from reliable_api.throttle.base import Confirmation, LimiterState, Reservation, Window
from reliable_api.throttle.errors import failed, unreachable

if TYPE_CHECKING:
    from redis.commands.core import Script

#: Seconds a limit's hash outlives its last slot or pause.
IDLE_TTL = 86400

# Every script starts from the server's time and the stored fields (absent ones read as nil);
# window i's TAT is the field "t<i>" (from 1). Numbers travel as strings with 17 digits: Redis
# would truncate a returned Lua number to an integer. keep() never shortens the hash's life.
_PROLOGUE = f"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'paused_until', 'interval', 'interval_changed_at', 'last_sent')
local paused_until, adaptive = tonumber(stored[1]) or 0, tonumber(stored[2])
local function num(x) return string.format('%.17g', x) end
local function keep(until_time)
  local ttl = math.ceil(math.max(until_time - now, 0)) + {IDLE_TTL}
  if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
end
local function start(period, offset, t) return math.floor((t + offset) / period) * period - offset end
"""

# ARGV: cost, max_wait, then per window: interval, burst, period, calendar (1/0), offset.
_RESERVE = (
    _PROLOGUE
    + """
local cost, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local windows = {}
for i = 1, (#ARGV - 2) / 5 do
  local b = 2 + (i - 1) * 5
  local w = {interval = tonumber(ARGV[b + 1]), burst = tonumber(ARGV[b + 2]), period = tonumber(ARGV[b + 3]),
             calendar = tonumber(ARGV[b + 4]) == 1, offset = tonumber(ARGV[b + 5]),
             tat = tonumber(redis.call('HGET', KEYS[1], 't' .. i)) or 0}
  if i == 1 then w.interval = math.max(w.interval, adaptive or w.interval) end
  windows[i] = w
end
local allowed, binding = paused_until, -1
for i, w in ipairs(windows) do
  local here = now
  if not w.calendar then
    here = math.max(w.tat, now) + (math.min(cost, w.burst) - w.burst) * w.interval
  else
    local s = start(w.period, w.offset, now)
    if math.max(w.tat, s) + math.min(cost, w.period / w.interval) * w.interval > s + w.period + 1e-9 then
      here = s + w.period
    end
  end
  if here > math.max(allowed, now) then allowed, binding = here, i - 1 end
end
local wait = math.max(0, allowed - now)
if wait > max_wait then return {0, num(wait), num(windows[1].interval), binding} end
local at, last = now + wait, paused_until
for i, w in ipairs(windows) do
  local base = at
  if w.calendar then base = start(w.period, w.offset, at) end
  local tat = math.max(w.tat, base) + cost * w.interval
  redis.call('HSET', KEYS[1], 't' .. i, num(tat))
  last = math.max(last, tat)
end
keep(last)
return {1, num(wait), num(windows[1].interval), binding}
"""
)

_PAUSE = (
    _PROLOGUE
    + """
paused_until = math.max(paused_until, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'paused_until', num(paused_until))
keep(paused_until)
"""
)

_ADJUST = (
    _PROLOGUE
    + """
local interval, factor = tonumber(ARGV[1]), tonumber(ARGV[2])
local ceiling, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = math.max(interval, adaptive or interval)
if now - (tonumber(stored[3]) or 0) < cooldown then return num(current) end
local adjusted = math.min(ceiling, math.max(interval, current * factor))
redis.call('HSET', KEYS[1], 'interval', num(adjusted), 'interval_changed_at', num(now))
keep(now)
return num(adjusted)
"""
)

_CONFIRM = (
    _PROLOGUE
    + """
local paused_for = math.max(0, paused_until - now)
local guard = math.max(tonumber(ARGV[1]), tonumber(ARGV[2]) * (adaptive or 0))
local wait = math.max(0, (tonumber(stored[4]) or 0) + guard - now)
if paused_for > 0 or wait > 0 then return {num(paused_for), num(wait), num(adaptive or 0), num(0)} end
redis.call('HSET', KEYS[1], 'last_sent', num(now))
keep(now)
return {num(0), num(0), num(adaptive or 0), num(now)}
"""
)

_HOLD = (
    _PROLOGUE
    + """
local until_time = tonumber(ARGV[1])
if until_time > (tonumber(stored[4]) or 0) then
  redis.call('HSET', KEYS[1], 'last_sent', num(until_time))
  keep(until_time)
end
"""
)

# ARGV: index (from 0), used, then the window's interval, burst, period, calendar (1/0), offset.
_SYNC = (
    _PROLOGUE
    + """
local index, used = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, period, offset = tonumber(ARGV[3]), tonumber(ARGV[5]), tonumber(ARGV[7])
if index == 0 then interval = math.max(interval, adaptive or interval) end
local base = now
if tonumber(ARGV[6]) == 1 then base = start(period, offset, now) end
local tat = base + math.max(0, used) * interval
redis.call('HSET', KEYS[1], 't' .. (index + 1), num(tat))
keep(tat)
"""
)

_STATE = _PROLOGUE + "return {num(now), redis.call('HGETALL', KEYS[1])}"

#: The default key prefix: a limit's hash is ``<prefix><limit key>``.
DEFAULT_PREFIX = "reliable_api:limiter:"


def _window_args(window: Window) -> list[float]:
    calendar = window.calendar_offset is not None
    return [window.interval, window.burst, window.period, float(calendar), window.calendar_offset or 0.0]


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
        self._confirm: Script = self._client.register_script(_CONFIRM)
        self._hold: Script = self._client.register_script(_HOLD)
        self._sync: Script = self._client.register_script(_SYNC)
        self._state: Script = self._client.register_script(_STATE)

    def _run(self, script: Script, key: str, *args: float) -> Any:
        try:
            return script(keys=[self.prefix + key], args=[repr(float(arg)) for arg in args])
        except self._errors as error:
            raise failed("redis", self.url, error) from error

    def reserve(self, key: str, *, windows: Sequence[Window], cost: float, max_wait: float) -> Reservation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.reserve`."""
        args = [cost, max_wait, *(arg for window in windows for arg in _window_args(window))]
        granted, wait, current, binding = self._run(self._reserve, key, *args)
        return Reservation(
            granted=bool(granted), wait=float(wait), interval=float(current), window=int(binding)
        )

    def pause(self, key: str, *, seconds: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.pause`."""
        self._run(self._pause, key, seconds)

    def adjust(self, key: str, *, interval: float, factor: float, ceiling: float, cooldown: float) -> float:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.adjust`."""
        return float(self._run(self._adjust, key, interval, factor, ceiling, cooldown))

    def confirm(self, key: str, *, guard: float, share: float = 0.0) -> Confirmation:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.confirm`."""
        paused_for, wait, interval, sent_at = self._run(self._confirm, key, guard, share)
        return Confirmation(float(paused_for), float(wait), float(interval), float(sent_at))

    def hold(self, key: str, *, until: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.hold`."""
        self._run(self._hold, key, until)

    def sync(self, key: str, *, windows: Sequence[Window], index: int, used: float) -> None:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.sync`."""
        self._run(self._sync, key, index, used, *_window_args(windows[index]))

    def state(self, key: str) -> tuple[LimiterState, float]:
        """See :meth:`~reliable_api.throttle.base.LimiterBackend.state`."""
        now, flat = self._run(self._state, key)
        fields = {flat[i].decode(): float(flat[i + 1]) for i in range(0, len(flat), 2)}
        count = sum(1 for name in fields if name.startswith("t") and name[1:].isdigit())
        state = LimiterState(
            tats=tuple(fields[f"t{i}"] for i in range(1, count + 1)),
            paused_until=fields.get("paused_until", 0.0),
            interval=fields.get("interval"),
            interval_changed_at=fields.get("interval_changed_at", 0.0),
            last_sent=fields.get("last_sent", 0.0),
        )
        return state, float(now)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
