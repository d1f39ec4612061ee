"""Each window of a connection's rate limit on the health page: use, reset, and run-out at the pace.

Read from the shared limiter state (``SharedRateLimiter.usage()``, a read: it takes no slot). The
pace is measured between two readings of the same limit: this one and the page's previous one
(:class:`Readings` keeps them in the API server). A calendar window also knows its pace from its
start, so it has one on the first view. A rolling window leaks ``1 / interval`` units a second;
it runs out only when the pace is above that leak. Units spent between readings are counted as
what the new reading holds above what the old one would have leaked down to: exact while the
window is not empty, a lower bound when it emptied in between.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reliable_api.throttle.base import Window, WindowUsage
from reliable_api.throttle.windows import describe

#: Readings closer than this give no pace worth showing; older ones than :data:`FORGET` no current one.
MIN_SPAN = 1.0
FORGET = 900.0


@dataclass(frozen=True)
class WindowHealth:
    """One window of a limit as the page shows it.

    :param window: the configured window, e.g. ``"100000/d"``.
    :param used: units in it now; ``capacity`` the units it allows at once.
    :param resets_in: seconds until it is whole again (a calendar window: until its next start).
    :param pace: units per second spent lately; ``None`` until two readings are far enough apart.
    :param runs_out_in: seconds until it is spent at that pace; ``None`` when it is not (or no pace).
    """

    window: str
    used: float
    capacity: float
    resets_in: float
    pace: float | None
    runs_out_in: float | None

    @property
    def resets(self) -> str:
        """When the window is whole again, as the page says it."""
        return "now" if self.resets_in <= 0 else f"in {_duration(self.resets_in)}"

    @property
    def outlook(self) -> str:
        """What the page says about running out."""
        if self.used >= self.capacity - 1e-9:
            return "spent now"
        if self.pace is None:
            return "pace not known yet: measured from the next view"
        if self.runs_out_in is None:
            return "not at this pace"
        return f"in {_duration(self.runs_out_in)} at {self.pace:.3g}/s"

    def to_dict(self) -> dict[str, Any]:
        """Every field and the outlook, JSON-safe."""
        return {
            "window": self.window,
            "used": round(self.used, 3),
            "capacity": self.capacity,
            "resets_in_s": round(self.resets_in, 3),
            "pace_per_s": self.pace,
            "runs_out_in_s": None if self.runs_out_in is None else round(self.runs_out_in, 3),
            "resets": self.resets,
            "outlook": self.outlook,
        }


@dataclass(frozen=True)
class _Reading:
    at: float
    usages: tuple[WindowUsage, ...]


class Readings:
    """The last readings of each limit, to measure its pace between page views (thread-safe)."""

    def __init__(self) -> None:
        # Per limit, the last two readings kept, at least MIN_SPAN apart: a quick reload still
        # measures its pace from the older one.
        self._last: dict[str, list[_Reading]] = {}
        self._lock = threading.Lock()

    def windows(
        self, key: str, configured: Sequence[Window], usages: Sequence[WindowUsage], now: float
    ) -> list[WindowHealth]:
        """Each window of limit ``key`` read at ``now``, with its pace since an earlier reading."""
        with self._lock:
            kept = [
                r  # an edited rate_limit starts afresh
                for r in self._last.get(key, [])
                if 0 <= now - r.at <= FORGET and [u.window for u in r.usages] == [u.window for u in usages]
            ]
            usable = next((r for r in reversed(kept) if now - r.at >= MIN_SPAN), None)
            if not kept or now - kept[-1].at >= MIN_SPAN:
                kept = [*kept[-1:], _Reading(now, tuple(usages))]
            self._last[key] = kept
        span = now - usable.at if usable is not None else 0.0
        rows = []
        for index, (window, usage) in enumerate(zip(configured, usages, strict=True)):
            pace = _pace(usage, usable.usages[index] if usable is not None else None, span, now)
            rows.append(
                WindowHealth(
                    describe(window),
                    usage.used,
                    usage.capacity,
                    usage.resets_in,
                    pace,
                    _runs_out(usage, pace),
                )
            )
        return rows


def _pace(usage: WindowUsage, before: WindowUsage | None, span: float, now: float) -> float | None:
    window = usage.window
    if window.calendar_offset is not None:
        start = window.start(now)
        if before is None or now - span < start:  # no reading in this window: its average so far
            elapsed = now - start
            return usage.used / elapsed if elapsed >= MIN_SPAN else None
        return max(0.0, usage.used - before.used) / span
    if before is None:
        return None
    leaked_to = max(0.0, before.used - span / window.interval)
    return max(0.0, usage.used - leaked_to) / span


def _runs_out(usage: WindowUsage, pace: float | None) -> float | None:
    left = usage.capacity - usage.used
    if pace is None or left <= 0:
        return None
    if usage.window.calendar_offset is not None:
        seconds = left / pace if pace > 0 else None
        return seconds if seconds is not None and seconds < usage.resets_in else None
    net = pace - 1 / usage.window.interval
    return left / net if net > 0 else None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
