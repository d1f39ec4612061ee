"""Anomalies: an integration's latest runs judged against its own history. Pure functions.

Every check has a minimum history and a direction, and stays quiet without enough history: a
new integration is unknown, not anomalous, and :class:`Judgement` says so in its ``notes``
instead of alerting on a guess. Thresholds: :class:`~reliable_api.monitoring.settings.Thresholds`.

======================  ===========  ===================================================================
kind                    direction    fires when
======================  ===========  ===================================================================
``frequency_spike``     up           runs started in the last ``frequency_window_h`` are at least
                                     ``frequency_factor`` x the usual count of that window (same hours
                                     on earlier days, or weekdays) and ``frequency_min_excess`` more
``runs_stopped``        down         since the last run, ``stopped_expected`` usual runs were missed (the
                                     same span on each earlier day or week held half as many at least)
``success_objective``   down         the share of tries that succeeded over ``objective_window_h`` is
                                     below ``success_objective`` (with enough tries and failures)
``success_rate_drop``   down         the last ``drop_tries`` succeed ``success_drop`` less than before
``slow``                up           the median of the last tries exceeds the usual p95 x ``p95_factor``,
                                     the median x ``slow_factor`` and the median + ``min_slowdown_s``
``volume_drop``         down         records per try at most ``drop_ratio`` x usual at this hour/weekday
``volume_spike``        up           at least ``spike_factor`` x usual
``throttling_surge``    up           429 answers or seconds waited for the limiter per try reach
                                     ``surge_factor`` x the usual p90 (and ``min_surge``/``min_surge_s``)
``dead_letter_growth``  up           the share of records dead-lettered is ``dead_letter_factor`` x usual
``quota_burn``          up           the API quota, at today's pace, runs out before it resets
======================  ===========  ===================================================================

Run counts are per DAG run of the integration; duration, volume, throttling and dead letters
compare tries of one task (DAG id and task id), because an extract and a load differ by nature.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reliable_api.monitoring.runs import RunRow
from reliable_api.monitoring.settings import IntegrationSettings, MonitoringConfig

KINDS = (
    "frequency_spike",
    "runs_stopped",
    "success_objective",
    "success_rate_drop",
    "slow",
    "volume_drop",
    "volume_spike",
    "throttling_surge",
    "dead_letter_growth",
    "quota_burn",
)
#: A task's baseline: at most this many tries, all of the last :data:`KEEP_ALL`, older ones sampled.
BASELINE_TRIES = 1_500
KEEP_ALL = timedelta(days=1)
#: A try that starts this far after "now" has a skewed clock: left out and said so.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Anomaly:
    """Something an integration does unlike its own history.

    :param kind: one of :data:`KINDS`.
    :param observed: the value seen (runs, a share, seconds, records, 429 answers).
    :param expected: what the history makes usual (the threshold's basis, same unit).
    :param at: the moment it was seen (the latest try it judged), for marking charts.
    :param dag_id: the task it is about; ``None`` for integration-wide kinds.
    """

    kind: str
    integration: str
    observed: float
    expected: float
    message: str
    dag_id: str | None = None
    task_id: str | None = None
    at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes it the same anomaly from one check to the next."""
        return (self.integration, self.kind, self.dag_id or "", self.task_id or "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "kind": self.kind,
            "integration": self.integration,
            "observed": self.observed,
            "expected": self.expected,
            "message": self.message,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "at": self.at.isoformat() if self.at else None,
        }


@dataclass
class Judgement:
    """The anomalies of one integration, and what could not be judged and why (plain words)."""

    anomalies: list[Anomaly] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def judge(
    integration: str,
    runs: Sequence[RunRow],
    *,
    now: datetime,
    settings: IntegrationSettings | None = None,
) -> Judgement:
    """Every anomaly of ``integration``'s ``runs`` (any order) at ``now``."""
    from reliable_api.monitoring import checks_integration, checks_task

    settings = settings or IntegrationSettings()
    judgement = Judgement()
    usable = clean(runs, now, judgement.notes)
    if not usable:
        judgement.notes.append("no tries recorded in the history: nothing to judge")
        return judgement
    thresholds = settings.thresholds
    for check in checks_integration.CHECKS:
        _add(judgement, check(integration, usable, now, thresholds))
    by_task: dict[tuple[str | None, str | None], list[RunRow]] = defaultdict(list)
    for run in usable:
        by_task[run.series].append(run)
    for series in by_task.values():
        for task_check in checks_task.CHECKS:
            _add(judgement, task_check(thin(series, now), thresholds))
    return judgement


def thin(runs: Sequence[RunRow], now: datetime, *, limit: int = BASELINE_TRIES) -> Sequence[RunRow]:
    """``runs`` with every try of the last :data:`KEEP_ALL` and an even sample of the older ones.

    A busy task has thousands of tries in 30 days; medians and percentiles of an even sample
    are the same within noise, and the work stays bounded (the health DAG's budget).
    """
    if len(runs) <= limit:
        return runs
    recent = [run for run in runs if run.started_at >= now - KEEP_ALL]
    older = runs[: len(runs) - len(recent)]
    room = max(1, limit - len(recent))
    step = max(1, -(-len(older) // room))
    return [*older[::-1][::step][::-1], *recent]


def detect(runs: Iterable[RunRow], *, now: datetime, config: MonitoringConfig | None = None) -> list[Anomaly]:
    """Every anomaly in ``runs`` of any integrations."""
    config = config or MonitoringConfig()
    by_integration: dict[str, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_integration[run.integration].append(run)
    found: list[Anomaly] = []
    for name, rows in by_integration.items():
        found += judge(name, rows, now=now, settings=config.for_integration(name)).anomalies
    return found


def clean(runs: Iterable[RunRow], now: datetime, notes: list[str]) -> list[RunRow]:
    """``runs`` oldest first, without tries from the future; skewed clocks noted, not judged."""
    ordered = sorted(runs, key=lambda run: run.started_at)
    future = [run for run in ordered if run.started_at > now + CLOCK_SKEW_TOLERANCE]
    if future:
        notes.append(
            f"{len(future)} tries start after now (a worker's clock is ahead): left out of every check"
        )
    backwards = sum(1 for run in ordered if run.duration_s is not None and run.duration_s < 0)
    if backwards:
        notes.append(
            f"{backwards} tries end before they start (clocks of workers disagree): "
            "their durations are left out"
        )
    return [run for run in ordered if run.started_at <= now + CLOCK_SKEW_TOLERANCE]


def _add(judgement: Judgement, result: Anomaly | str | None) -> None:
    if isinstance(result, Anomaly):
        judgement.anomalies.append(result)
    elif result and result not in judgement.notes:
        judgement.notes.append(result)


def for_run(kind: str, run: RunRow, observed: float, expected: float, message: str) -> Anomaly:
    """An anomaly about ``run``'s task, seen at its start."""
    return Anomaly(
        kind, run.integration, observed, expected, message, run.dag_id, run.task_id, run.started_at
    )


def span(seconds: float) -> str:
    """``2h 5m``, ``3m 10s``, ``4.2s``: for people."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"
