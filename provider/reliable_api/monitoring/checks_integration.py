"""Checks of an integration as a whole: how often it runs, how often it succeeds, its API quota.

Each takes the integration's tries (oldest first, clock-skewed ones already out), ``now`` and the
thresholds, and returns an :class:`~reliable_api.monitoring.anomalies.Anomaly`, a note saying why
it could not judge (too little history), or ``None``. Rules: :mod:`reliable_api.monitoring.anomalies`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from reliable_api.monitoring.anomalies import Anomaly, span
from reliable_api.monitoring.runs import RunRow
from reliable_api.monitoring.seasonal import (
    DAY,
    WEEK,
    count_between,
    expected_count,
    weekly_counts,
)
from reliable_api.monitoring.settings import Thresholds

Result = Anomaly | str | None
#: Tries of the quota check's sample (a day's shape needs more points than a median).
BASELINE = 1_500


def run_starts(runs: Sequence[RunRow]) -> list[float]:
    """When each DAG run of the integration started (its first try), sorted, in epoch seconds."""
    first: dict[tuple[str | None, str], float] = {}
    for index, run in enumerate(runs):
        key = (run.dag_id, run.run_id or f"#{index}")
        started = run.started_at.timestamp()
        if key not in first or started < first[key]:
            first[key] = started
    return sorted(first.values())


def frequency_spike(integration: str, runs: Sequence[RunRow], now: datetime, t: Thresholds) -> Result:
    """Far more runs in the last hours than usual at this time of day (or week)."""
    starts, end = run_starts(runs), now.timestamp()
    if not starts or end - starts[0] < t.min_history_days * DAY:
        return _short_history(starts, end, t)
    window = t.frequency_window_h * 3600
    weekly = weekly_counts(starts, starts[0], end - window)
    expected = expected_count(starts, end - window, end, first=starts[0], weekly=weekly)
    if expected is None:
        return f"run frequency: not enough earlier {'weeks' if weekly else 'days'} to compare with"
    observed = count_between(starts, end - window, end + 1)
    if observed < t.frequency_factor * max(expected, 1.0) or observed - expected < t.frequency_min_excess:
        return None
    when = "at this time of the week" if weekly else "at this time of day"
    return Anomaly(
        "frequency_spike",
        integration,
        observed,
        expected,
        f"{integration}: {observed} runs in the last {span(window)}; usually {expected:.0f} {when}",
        at=datetime.fromtimestamp(starts[-1], timezone.utc),
    )


def runs_stopped(integration: str, runs: Sequence[RunRow], now: datetime, t: Thresholds) -> Result:
    """No run for longer than the history allows: usual runs missed, and a gap longer than usual."""
    starts, end = run_starts(runs), now.timestamp()
    if len(starts) < t.min_history or end - starts[0] < t.min_history_days * DAY:
        return _short_history(starts, end, t)
    last = starts[-1]
    gap = end - last
    weekly = weekly_counts(starts, starts[0], last)
    period = WEEK if weekly else DAY
    if gap < period:  # the same span on earlier days (weeks): each held enough runs
        shifted = [
            count_between(starts, last + 1 - k * period, end - k * period)
            for k in range(1, 5)
            if last - k * period >= starts[0]
        ]
        if len(shifted) < 2 or min(shifted) < t.stopped_expected / 2:
            return None
        expected = float(statistics.mean(shifted))
    else:  # a gap this long spans whole periods: their average rate says how many runs were due
        expected = gap * (len(starts) - 1) / max(last - starts[0], 1.0)
    if expected < t.stopped_expected:
        return None
    return Anomaly(
        "runs_stopped",
        integration,
        0.0,
        expected,
        f"{integration}: no run for {span(gap)}; about {expected:.0f} were due by now",
        at=now,
    )


def success_objective(integration: str, runs: Sequence[RunRow], now: datetime, t: Thresholds) -> Result:
    """The share of tries that succeeded over the objective's window is below the objective."""
    window = t.objective_window_h * 3600
    since = now.timestamp() - window
    finished = [run for run in runs if run.finished and run.started_at.timestamp() >= since]
    if len(finished) < t.objective_min_tries:
        return (
            f"success objective: {len(finished)} finished tries in the last {span(window)}; "
            f"it is judged from {t.objective_min_tries}"
        )
    failures = sum(1 for run in finished if run.outcome != "success")
    rate = 1 - failures / len(finished)
    if rate >= t.success_objective or failures < t.objective_min_failures:
        return None
    return Anomaly(
        "success_objective",
        integration,
        rate,
        t.success_objective,
        f"{integration}: {rate:.1%} of {len(finished)} tries succeeded over the last {span(window)}; "
        f"the objective is {t.success_objective:.1%}",
        at=finished[-1].started_at,
    )


def success_rate_drop(integration: str, runs: Sequence[RunRow], now: datetime, t: Thresholds) -> Result:
    """The latest tries fail much more often than the tries before them."""
    finished = [run for run in runs if run.finished]
    recent, before = finished[-t.drop_tries :], finished[: -t.drop_tries][-10 * t.drop_tries :]
    if len(recent) < t.drop_tries or len(before) < max(t.min_history, t.drop_tries):
        return None
    now_rate, usual_rate = _rate(recent), _rate(before)
    if usual_rate - now_rate < t.success_drop:
        return None
    return Anomaly(
        "success_rate_drop",
        integration,
        now_rate,
        usual_rate,
        f"{integration}: {now_rate:.0%} of the last {len(recent)} tries succeeded; usually {usual_rate:.0%}",
        at=recent[-1].started_at,
    )


def quota_burn(integration: str, runs: Sequence[RunRow], now: datetime, t: Thresholds) -> Result:
    """At today's pace the API's daily quota runs out before it resets (midnight UTC).

    Today's use is projected with the usual shape of a day: the share used by day's end over the
    share used by this time on earlier days (linear when fewer than two days say).
    """
    from reliable_api.monitoring.anomalies import thin

    sample = thin(runs, now, limit=BASELINE)  # the shape of a day survives an even sample
    used = [(run.started_at.timestamp(), share) for run in sample if (share := quota_used(run)) is not None]
    end = now.timestamp()
    today = end - end % DAY
    per_day: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for seconds, share in used:
        per_day[int(seconds // DAY)].append((seconds, share))
    now_used = per_day.get(int(today // DAY), [])
    if not now_used:
        return None
    current = now_used[-1][1]
    ratios, finals = [], []
    for day, points in per_day.items():
        if day == int(today // DAY):
            continue
        final = max(share for _, share in points)
        finals.append(final)
        by_now = [share for seconds, share in points if seconds - day * DAY <= end - today]
        if by_now and by_now[-1] > 0.02:
            ratios.append(final / by_now[-1])
    if len(ratios) >= 2:
        projected = current * statistics.median(ratios)
    else:
        projected = current / max((end - today) / DAY, 1 / 24)
    if current < t.min_quota_used or projected < t.quota_projected:
        return None
    usual = statistics.median(finals) if finals else 0.0
    return Anomaly(
        "quota_burn",
        integration,
        projected,
        usual,
        f"{integration}: {current:.0%} of the daily API quota used already; at this pace "
        f"{projected:.0%} by the reset (usually {usual:.0%} by day's end)",
        at=now,
    )


def quota_used(run: RunRow) -> float | None:
    """The share of its quota the try's API reported used (``quota_remaining`` / ``quota_limit``)."""
    remaining, limit = run.measure("quota_remaining"), run.measure("quota_limit")
    if remaining is None or not limit:
        return None
    return max(0.0, 1 - remaining / limit)


def _rate(runs: Sequence[RunRow]) -> float:
    return sum(1 for run in runs if run.outcome == "success") / len(runs)


def _short_history(starts: Sequence[float], end: float, t: Thresholds) -> str:
    days = (end - starts[0]) / DAY if starts else 0.0
    return (
        f"run frequency: {len(starts)} runs over {days:.1f} days of history; "
        f"judged from {t.min_history_days:g} days and {t.min_history} runs"
    )


CHECKS: tuple[Callable[[str, Sequence[RunRow], datetime, Thresholds], Result], ...] = (
    frequency_spike,
    runs_stopped,
    success_objective,
    success_rate_drop,
    quota_burn,
)
