"""Turn configured rates into the windows a limiter reserves: bursts, resets and time zones.

The first (shortest) window paces requests and takes the configured ``burst``. A longer window
(a quota) defaults to a burst of its whole count, so a daily quota may be spent at the short
window's rate; it is rolling (refilled continuously, as a leaky bucket) unless ``reset`` is
``"calendar"``, when it is counted from the start of each period in ``timezone`` (midnight for a
day). The time zone's offset is taken when the windows are built (a task's run), so a day that
changes daylight-saving time is measured from the offset in force at the task's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reliable_api.core.rates import Rate
from reliable_api.exceptions import ConfigurationError
from reliable_api.throttle.base import Window

RESETS = ("rolling", "calendar")


def utc_offset(zone: str, *, at: datetime | None = None) -> float:
    """Seconds east of UTC of time zone ``zone`` at ``at`` (now by default).

    :raises ConfigurationError: naming ``quota_timezone`` when the zone is unknown.
    """
    try:
        info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"quota_timezone must be an IANA time zone like 'Europe/Paris', got {zone!r}"
        ) from None
    offset = (at or datetime.now(timezone.utc)).astimezone(info).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def build_windows(
    rates: Sequence[Rate],
    *,
    burst: int = 1,
    reset: str = "rolling",
    zone: str = "UTC",
    at: datetime | None = None,
) -> tuple[Window, ...]:
    """The windows of ``rates``, shortest first (as :func:`~.rate.parse_rates` gives them).

    :param burst: requests allowed at once by the first window.
    :param reset: ``"rolling"`` or ``"calendar"``, for the windows after the first.
    :param zone: the time zone of calendar resets.
    :raises ConfigurationError: naming the setting: a burst above the first window's count, an
        unknown reset or time zone, or no rate at all.
    """
    if not rates:
        raise ConfigurationError("rate_limit needs at least one rate")
    if reset not in RESETS:
        raise ConfigurationError(f"quota_reset must be one of {', '.join(RESETS)}, got {reset!r}")
    first = rates[0]
    if burst > max(1.0, first.count):
        raise ConfigurationError(
            f"burst ({burst}) is larger than the count of the window {first}: "
            f"more than {first.count:g} requests at once would exceed it"
        )
    offset = utc_offset(zone, at=at) if reset == "calendar" else None
    windows = [Window(count=first.count, period=first.period, burst=float(burst))]
    for rate in rates[1:]:
        windows.append(Window(count=rate.count, period=rate.period, burst=rate.count, calendar_offset=offset))
    return tuple(windows)


def describe(window: Window) -> str:
    """``"100000/86400s (calendar, UTC+01:00)"``: a window as an alert or a log names it."""
    text = str(Rate(count=window.count, period=window.period))
    if window.calendar_offset is None:
        return text
    hours, rest = divmod(abs(window.calendar_offset), 3600)
    sign = "-" if window.calendar_offset < 0 else "+"
    return f"{text} (calendar, UTC{sign}{int(hours):02d}:{int(rest // 60):02d})"
