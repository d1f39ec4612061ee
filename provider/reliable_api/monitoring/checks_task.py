"""Checks of one task's tries (one DAG id and task id): duration, volume, throttling, dead letters.

Each takes the task's tries oldest first and the thresholds; "now" is the median of the last
``recent_tries`` tries, so one odd try alerts no one, and the history is every try before them.
Returns an anomaly, a note (too little history) or ``None``. Rules:
:mod:`reliable_api.monitoring.anomalies`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from reliable_api.monitoring.anomalies import Anomaly, for_run, span
from reliable_api.monitoring.runs import RunRow
from reliable_api.monitoring.seasonal import percentile, usual_value, weekly_values
from reliable_api.monitoring.settings import Thresholds

Result = Anomaly | str | None
#: The most earlier tries a task's baseline uses: bounded work, and the recent past matters most.
MAX_BASELINE = 6_000


def slow(runs: Sequence[RunRow], t: Thresholds) -> Result:
    """The latest successful tries took far longer than this task's usual p95 and median."""
    done = [run for run in runs if run.outcome == "success" and (run.duration_s or -1) >= 0]
    split = _split(done, t)
    if isinstance(split, str):
        return split
    recent, history = ([run.duration_s or 0.0 for run in part] for part in split)
    observed, median, p95 = statistics.median(recent), statistics.median(history), percentile(history, 0.95)
    limit = max(p95 * t.p95_factor, median * t.slow_factor, median + t.min_slowdown_s)
    if observed <= limit:
        return None
    last = split[0][-1]
    return for_run(
        "slow",
        last,
        observed,
        median,
        f"{last.name} took {span(observed)} (median of its last {len(recent)} tries); "
        f"usually {span(median)}, p95 {span(p95)}",
    )


def volume(runs: Sequence[RunRow], t: Thresholds) -> Result:
    """Records per try far below or above what this task usually moves at this hour (and weekday)."""
    done = [run for run in runs if run.outcome == "success" and run.records is not None]
    split = _split(done, t)
    if isinstance(split, str):
        return None  # slow() already said the history is short
    recent, history = split
    points = [(run.started_at.timestamp(), float(run.records or 0)) for run in history]
    last = recent[-1]
    usual = usual_value(
        points, last.started_at.timestamp(), weekly=weekly_values(points), min_points=t.min_history
    )
    if usual is None:
        return None
    expected, basis = usual
    observed = float(statistics.median(run.records or 0 for run in recent))
    message = f"{last.name} moved {observed:.0f} records; usually {expected:.0f} ({basis})"
    if expected >= t.min_volume and observed <= expected * t.drop_ratio:
        return for_run("volume_drop", last, observed, expected, message)
    if observed >= max(expected, t.min_volume) * t.spike_factor:
        return for_run("volume_spike", last, observed, expected, message)
    return None


def throttling_surge(runs: Sequence[RunRow], t: Thresholds) -> Result:
    """The latest tries got far more 429 answers, or waited far longer for the limiter, than usual."""
    for measure, floor, unit in (
        ("rate_limited", t.min_surge, "429 answers"),
        ("throttled_seconds", t.min_surge_s, "s throttled"),
    ):
        reported = [run for run in runs if run.measure(measure) is not None]
        split = _split(reported, t)
        if isinstance(split, str):
            continue
        recent, history = ([run.measure(measure) or 0.0 for run in part] for part in split)
        observed, usual = statistics.mean(recent), percentile(history, 0.9)
        if observed >= max(usual * t.surge_factor, usual + floor):
            last = split[0][-1]
            message = f"{last.name} got {observed:.0f} {unit} per try lately; usually at most {usual:.0f}"
            return for_run("throttling_surge", last, observed, usual, message)
    return None


def dead_letter_growth(runs: Sequence[RunRow], t: Thresholds) -> Result:
    """A far larger share of this task's records goes to the dead-letter queue than usual."""
    reported = [run for run in runs if run.measure("dead_lettered") is not None and (run.records or 0) > 0]
    split = _split(reported, t)
    if isinstance(split, str):
        return None
    recent, history = split
    letters = sum(run.measure("dead_lettered") or 0.0 for run in recent)
    observed = letters / max(1, sum(run.records or 0 for run in recent))
    usual = statistics.median((run.measure("dead_lettered") or 0.0) / (run.records or 1) for run in history)
    if letters < t.min_dead_letters or observed < max(
        usual * t.dead_letter_factor, usual + t.min_dead_letter_share
    ):
        return None
    last = recent[-1]
    return for_run(
        "dead_letter_growth",
        last,
        observed,
        usual,
        f"{last.name} dead-lettered {observed:.1%} of its records lately ({letters:.0f}); "
        f"usually {usual:.1%}",
    )


def _split(runs: Sequence[RunRow], t: Thresholds) -> tuple[Sequence[RunRow], Sequence[RunRow]] | str:
    """(the recent tries, the history before them), or a note when the history is too short."""
    if len(runs) < t.recent_tries + t.min_history:
        name = runs[-1].name if runs else "a task"
        earlier = max(0, len(runs) - t.recent_tries)
        return f"{name}: {earlier} earlier tries; its checks judge from {t.min_history}"
    return runs[-t.recent_tries :], runs[-t.recent_tries - MAX_BASELINE : -t.recent_tries]


CHECKS: tuple[Callable[[Sequence[RunRow], Thresholds], Result], ...] = (
    slow,
    volume,
    throttling_surge,
    dead_letter_growth,
)
