"""Anomalies: an integration's latest tries compared with its own history. Pure functions.

Each check judges one thing and stays quiet without enough history (:attr:`Thresholds.min_history`
comparable tries): a new integration is not anomalous, only unknown. Comparable tries are those
of one task (DAG id and task id): an extract and a load of one integration differ in duration
and volume by nature. Statistics are robust (medians, MAD, percentiles), so one odd try in the
history does not move the baseline.

=====================  =====================================================================
kind                   fires when
=====================  =====================================================================
``stale``              no successful try for ``stale_factor`` x the task's usual interval
``success_rate_drop``  the integration's last ``recent_tries`` succeed ``success_drop`` less
                       often than the tries before them
``slow``               the last successful try took longer than median + ``z`` x MAD-sigma,
                       and at least ``slow_factor`` x median and ``min_slowdown_s`` more
``volume_drop``        the last successful try moved at most ``drop_ratio`` x the median
                       (e.g. 0 records where there are usually thousands)
``volume_spike``       it moved at least ``spike_factor`` x the median (or ``min_volume``)
``throttling_surge``   the last try got at least ``surge_factor`` x the 90th percentile of
                       429 answers, and ``min_surge`` more
=====================  =====================================================================
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from reliable_api.monitoring.runs import RunRow

KINDS = ("stale", "success_rate_drop", "slow", "volume_drop", "volume_spike", "throttling_surge")
#: MAD x this estimates the standard deviation of normally distributed values.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Anomaly:
    """Something an integration does unlike its own history.

    :param kind: one of :data:`KINDS`.
    :param observed: the value seen (seconds, a share, records, 429 answers).
    :param expected: what the history makes normal (the threshold's basis, same unit).
    :param dag_id: the task it is about; ``None`` for integration-wide kinds.
    """

    kind: str
    integration: str
    observed: float
    expected: float
    message: str
    dag_id: str | None = None
    task_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return asdict(self)


@dataclass(frozen=True)
class Thresholds:
    """How far from its history a try must be to be an anomaly; the defaults suit most APIs."""

    min_history: int = 8
    history_tries: int = 100
    stale_factor: float = 3.0
    recent_tries: int = 5
    success_drop: float = 0.3
    z: float = 5.0
    slow_factor: float = 2.0
    min_slowdown_s: float = 5.0
    min_volume: int = 100
    drop_ratio: float = 0.2
    spike_factor: float = 5.0
    surge_factor: float = 3.0
    min_surge: int = 10


DEFAULT = Thresholds()


def detect(runs: Iterable[RunRow], *, now: datetime, thresholds: Thresholds = DEFAULT) -> list[Anomaly]:
    """Every anomaly in ``runs`` (any integrations, any order)."""
    by_integration: dict[str, list[RunRow]] = defaultdict(list)
    for run in sorted(runs, key=lambda run: run.started_at):
        by_integration[run.integration].append(run)
    found: list[Anomaly] = []
    for integration_runs in by_integration.values():
        found += integration_anomalies(integration_runs, now=now, thresholds=thresholds)
    return found


def integration_anomalies(
    runs: Sequence[RunRow], *, now: datetime, thresholds: Thresholds = DEFAULT
) -> list[Anomaly]:
    """The anomalies of one integration's ``runs`` (oldest first)."""
    found = [success_rate_drop(runs, thresholds)]
    by_series: dict[tuple[str | None, str | None], list[RunRow]] = defaultdict(list)
    for run in runs:
        by_series[run.series].append(run)
    for series in by_series.values():
        found.append(stale(series, now, thresholds))
        for check in SERIES_CHECKS:
            found.append(check(series, thresholds))
    return [anomaly for anomaly in found if anomaly is not None]


def stale(runs: Sequence[RunRow], now: datetime, thresholds: Thresholds = DEFAULT) -> Anomaly | None:
    """No success of this task for much longer than the usual interval between its successes."""
    starts = [run.started_at for run in runs if run.outcome == "success"]
    if len(starts) < thresholds.min_history:
        return None
    usual = statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(starts))
    since = (now - starts[-1]).total_seconds()
    if usual <= 0 or since <= thresholds.stale_factor * usual:
        return None
    return _anomaly(
        "stale",
        runs[-1],
        since,
        usual,
        f"{runs[-1].name} has not succeeded for {_span(since)}; it usually succeeds every {_span(usual)}",
    )


def success_rate_drop(runs: Sequence[RunRow], thresholds: Thresholds = DEFAULT) -> Anomaly | None:
    """The integration's latest tries fail much more often than the tries before them."""
    finished = [run for run in runs if run.finished]
    recent, before = finished[-thresholds.recent_tries :], finished[: -thresholds.recent_tries]
    before = before[-thresholds.history_tries :]
    if len(recent) < thresholds.recent_tries or len(before) < thresholds.min_history:
        return None
    now_rate, usual_rate = _success_rate(recent), _success_rate(before)
    if usual_rate - now_rate < thresholds.success_drop:
        return None
    integration = runs[-1].integration
    return Anomaly(
        "success_rate_drop",
        integration,
        now_rate,
        usual_rate,
        f"{integration}: {now_rate:.0%} of the last {len(recent)} tries succeeded; usually {usual_rate:.0%}",
    )


def slow(runs: Sequence[RunRow], thresholds: Thresholds = DEFAULT) -> Anomaly | None:
    """The last successful try took far longer than this task's successful tries usually do."""
    durations = [run.duration_s for run in runs if run.outcome == "success" and run.duration_s is not None]
    last, history = _last_and_history(durations, thresholds)
    if last is None:
        return None
    median = statistics.median(history)
    sigma = MAD_TO_SIGMA * statistics.median(abs(value - median) for value in history)
    limit = max(
        median + thresholds.z * sigma, median * thresholds.slow_factor, median + thresholds.min_slowdown_s
    )
    if last <= limit:
        return None
    run = _last_success(runs)
    return _anomaly(
        "slow", run, last, median, f"{run.name} took {_span(last)}; it usually takes {_span(median)}"
    )


def volume_drop(runs: Sequence[RunRow], thresholds: Thresholds = DEFAULT) -> Anomaly | None:
    """The last successful try moved far fewer records than usual (0 where there are thousands)."""
    last, median = _volumes(runs, thresholds)
    if last is None or median < thresholds.min_volume or last > median * thresholds.drop_ratio:
        return None
    run = _last_success(runs)
    return _anomaly(
        "volume_drop", run, last, median, f"{run.name} moved {last:.0f} records; usually {median:.0f}"
    )


def volume_spike(runs: Sequence[RunRow], thresholds: Thresholds = DEFAULT) -> Anomaly | None:
    """The last successful try moved far more records than usual."""
    last, median = _volumes(runs, thresholds)
    if last is None or last < max(median, thresholds.min_volume) * thresholds.spike_factor:
        return None
    run = _last_success(runs)
    return _anomaly(
        "volume_spike", run, last, median, f"{run.name} moved {last:.0f} records; usually {median:.0f}"
    )


def throttling_surge(runs: Sequence[RunRow], thresholds: Thresholds = DEFAULT) -> Anomaly | None:
    """The last try got far more 429 answers than this task's tries usually get."""
    answers = [run.measure("rate_limited") for run in runs]
    last, history = _last_and_history([value for value in answers if value is not None], thresholds)
    if last is None or answers[-1] is None:
        return None
    usual = _percentile_90(history)
    if last < max(usual * thresholds.surge_factor, usual + thresholds.min_surge):
        return None
    return _anomaly(
        "throttling_surge",
        runs[-1],
        last,
        usual,
        f"{runs[-1].name} got {last:.0f} rate-limit (429) answers; usually at most {usual:.0f}",
    )


SERIES_CHECKS: tuple[Callable[[Sequence[RunRow], Thresholds], Anomaly | None], ...] = (
    slow,
    volume_drop,
    volume_spike,
    throttling_surge,
)


def _last_and_history(values: Sequence[float], thresholds: Thresholds) -> tuple[float | None, list[float]]:
    history = list(values[:-1][-thresholds.history_tries :])
    if len(history) < thresholds.min_history:
        return None, history
    return values[-1], history


def _volumes(runs: Sequence[RunRow], thresholds: Thresholds) -> tuple[float | None, float]:
    volumes = [float(run.records) for run in runs if run.outcome == "success" and run.records is not None]
    last, history = _last_and_history(volumes, thresholds)
    if last is None or _last_success(runs).records is None:
        return None, 0.0
    return last, statistics.median(history)


def _last_success(runs: Sequence[RunRow]) -> RunRow:
    return next(run for run in reversed(runs) if run.outcome == "success")


def _success_rate(runs: Sequence[RunRow]) -> float:
    return sum(run.outcome == "success" for run in runs) / len(runs)


def _percentile_90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _anomaly(kind: str, run: RunRow, observed: float, expected: float, message: str) -> Anomaly:
    return Anomaly(kind, run.integration, observed, expected, message, run.dag_id, run.task_id)


def _span(seconds: float) -> str:
    """``2h 5m``, ``3m 10s``, ``4.2s``: for people."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    delta = timedelta(seconds=round(seconds))
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"
