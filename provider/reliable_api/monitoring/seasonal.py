"""What is usual at a given moment: by hour of day, and by day of week where the history shows it.

A nightly batch is not late at noon and Monday's volume is not Sunday's: the expected count of
runs in a window is the median of the counts in the same window on earlier days (or earlier
weeks, when the days of the week differ), and a usual value is the median of earlier values at
the same hour (and weekday). Medians keep an earlier anomaly in the history from moving the
baseline. Pure functions over seconds since the epoch.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Sequence

DAY = 86_400.0
WEEK = 7 * DAY
#: Days of history before the weekly pattern is trusted (two of each weekday).
WEEKLY_MIN_DAYS = 14.0
#: The quietest weekday at most this share of the busiest: the week has a pattern.
WEEKLY_RATIO = 0.5


def weekday(seconds: float) -> int:
    """0 = Monday, in UTC (the epoch was a Thursday)."""
    return int((seconds // DAY + 3) % 7)


def hour_of_day(seconds: float) -> float:
    """Hours since midnight UTC."""
    return (seconds % DAY) / 3600.0


def weekly_counts(starts: Sequence[float], first: float, last: float) -> bool:
    """Whether run counts differ by weekday over the whole days between ``first`` and ``last``."""
    if last - first < WEEKLY_MIN_DAYS * DAY:
        return False
    per_day: dict[int, int] = defaultdict(int)
    for start in starts:
        per_day[int(start // DAY)] += 1
    by_weekday: dict[int, list[int]] = defaultdict(list)
    for day in range(int(first // DAY) + 1, int(last // DAY)):
        by_weekday[weekday(day * DAY)].append(per_day.get(day, 0))
    return _uneven([statistics.mean(values) for values in by_weekday.values() if values])


def weekly_values(points: Sequence[tuple[float, float]]) -> bool:
    """Whether values (``(seconds, value)``) differ by weekday, given two weeks of them."""
    if not points or points[-1][0] - points[0][0] < WEEKLY_MIN_DAYS * DAY:
        return False
    by_weekday: dict[int, list[float]] = defaultdict(list)
    for seconds, value in points:
        by_weekday[weekday(seconds)].append(value)
    return len(by_weekday) == 7 and _uneven([statistics.median(v) for v in by_weekday.values()])


def _uneven(levels: list[float]) -> bool:
    return len(levels) >= 2 and max(levels) > 0 and min(levels) <= WEEKLY_RATIO * max(levels)


def expected_count(
    starts: Sequence[float], lo: float, hi: float, *, first: float, weekly: bool
) -> float | None:
    """The median count of ``starts`` (sorted) in ``[lo, hi)`` shifted back a day (a week) at a time.

    Only shifts that land fully inside the history (after ``first``) count; ``None`` with fewer
    than three of them.
    """
    period = WEEK if weekly else DAY
    counts = []
    shift = period
    while lo - shift >= first:
        counts.append(count_between(starts, lo - shift, hi - shift))
        shift += period
    return float(statistics.median(counts)) if len(counts) >= 3 else None


def count_between(starts: Sequence[float], lo: float, hi: float) -> int:
    """How many of ``starts`` (sorted) fall in ``[lo, hi)``."""
    return bisect.bisect_left(starts, hi) - bisect.bisect_left(starts, lo)


def usual_value(
    points: Sequence[tuple[float, float]], at: float, *, weekly: bool, min_points: int
) -> tuple[float, str] | None:
    """The median of ``points`` near ``at``'s hour (and weekday), with what it was taken over.

    Falls back to the whole weekday (weekly) or every point (not weekly) when too few are near;
    ``None`` when even those are fewer than ``min_points``.
    """
    hour, day = hour_of_day(at), weekday(at)

    def near(seconds: float) -> bool:
        distance = abs(hour_of_day(seconds) - hour)
        return min(distance, 24 - distance) <= 1.0

    tiers = []
    if weekly:  # another weekday is no baseline: too few of this one and the check stays quiet
        tiers.append(([v for s, v in points if weekday(s) == day and near(s)], "this weekday and hour"))
        tiers.append(([v for s, v in points if weekday(s) == day], "this weekday"))
    else:
        tiers.append(([v for s, v in points if near(s)], "this hour of day"))
        tiers.append(([v for _, v in points], "all tries"))
    for values, basis in tiers:
        if len(values) >= min_points:
            return float(statistics.median(values)), basis
    return None


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, interpolated; the value itself for one."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
