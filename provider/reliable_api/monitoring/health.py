"""Per-integration health from the run metrics, for the UI's health page and the health DAG.

A "run" here is one task try of the integration (an extract, a validation, a load...), finished
as a success or a failure; deferred tries are not counted. Counts, rates and durations cover the
last :data:`WINDOW`; anomalies compare the latest tries with up to :data:`HISTORY` of the
integration's own history (:mod:`reliable_api.monitoring.anomalies`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from reliable_api.monitoring.anomalies import Anomaly, detect
from reliable_api.monitoring.runs import RunRow, load_runs

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "HISTORY",
    "WINDOW",
    "Anomaly",
    "IntegrationHealth",
    "TaskHealth",
    "integration_health",
    "recent_runs",
]

#: What the counts, rates and durations of :class:`IntegrationHealth` cover.
WINDOW = timedelta(hours=24)
#: How far back anomaly detection looks for an integration's history.
HISTORY = timedelta(days=30)
#: The most rows read for the history, newest first: bounded work on a busy state DB.
MAX_HISTORY_ROWS = 50_000
#: How many of a task's latest finished tries its trend (a chart on the health page) shows.
TREND_TRIES = 30


@dataclass(frozen=True)
class TaskHealth:
    """How one task of an integration is doing: its tries, unlike the integration's, compare.

    :param trend: the latest finished tries, oldest first, as ``(duration_s, outcome)``.

    The other fields mean what they mean in :class:`IntegrationHealth`, for this task's tries.
    """

    dag_id: str | None
    task_id: str | None
    last_run_at: datetime | None
    runs: int
    failed_runs: int
    success_rate: float | None
    median_duration_s: float | None
    last_duration_s: float | None
    last_records: int | None
    trend: list[tuple[float, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``dag.task``."""
        return ".".join(part for part in (self.dag_id, self.task_id) if part) or "(no task)"

    def to_dict(self) -> dict[str, Any]:
        """Every field, the time in ISO 8601, the trend as ``{duration_s, outcome}`` dicts."""
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "runs": self.runs,
            "failed_runs": self.failed_runs,
            "success_rate": self.success_rate,
            "median_duration_s": self.median_duration_s,
            "last_duration_s": self.last_duration_s,
            "last_records": self.last_records,
            "trend": [{"duration_s": seconds, "outcome": outcome} for seconds, outcome in self.trend],
        }


@dataclass(frozen=True)
class IntegrationHealth:
    """How one integration is doing; JSON-safe through :meth:`to_dict`.

    :param last_run_at: when its latest try started.
    :param runs: finished tries in the window; ``failed_runs`` of them failed.
    :param success_rate: succeeded / finished in the window; ``None`` without tries.
    :param median_duration_s: of the successful tries in the window.
    :param last_duration_s: of the latest finished try.
    :param last_records: records of the latest successful try that reported a volume.
    :param throttled: 429 answers in the window.
    :param open_dead_letters: entries of its dead-letter queue still ``open``.
    :param tasks: the same per task (extract, validate, load...), whose durations and volumes
        compare; the integration's own durations mix its tasks.
    """

    integration: str
    last_run_at: datetime | None
    runs: int
    failed_runs: int
    success_rate: float | None
    median_duration_s: float | None
    last_duration_s: float | None
    last_records: int | None
    throttled: int
    open_dead_letters: int
    anomalies: list[Anomaly] = field(default_factory=list)
    tasks: list[TaskHealth] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Every field, times in ISO 8601, anomalies and tasks as dicts."""
        return {
            "integration": self.integration,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "runs": self.runs,
            "failed_runs": self.failed_runs,
            "success_rate": self.success_rate,
            "median_duration_s": self.median_duration_s,
            "last_duration_s": self.last_duration_s,
            "last_records": self.last_records,
            "throttled": self.throttled,
            "open_dead_letters": self.open_dead_letters,
            "anomalies": [anomaly.to_dict() for anomaly in self.anomalies],
            "tasks": [task.to_dict() for task in self.tasks],
        }


def integration_health(engine: Engine, *, now: datetime | None = None) -> list[IntegrationHealth]:
    """The health of every integration with tries in the history or dead letters, by name.

    :param now: the moment to judge at (timezone-aware); default the current time.
    """
    from reliable_api.deadletter.queue import DeadLetterQueue
    from reliable_api.state.schema import utcnow

    now = now or utcnow()
    runs = load_runs(engine, since=now - HISTORY, limit=MAX_HISTORY_ROWS)
    by_integration: dict[str, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_integration[run.integration].append(run)
    anomalies: dict[str, list[Anomaly]] = defaultdict(list)
    for anomaly in detect(runs, now=now):
        anomalies[anomaly.integration].append(anomaly)
    dead_letters = DeadLetterQueue(engine).counts()
    names = sorted(
        set(by_integration) | {name for name, counts in dead_letters.items() if counts.get("open")}
    )
    return [
        summarize(
            name,
            by_integration.get(name, []),
            now=now,
            open_dead_letters=dead_letters.get(name, {}).get("open", 0),
            anomalies=anomalies.get(name, []),
        )
        for name in names
    ]


def summarize(
    integration: str,
    runs: list[RunRow],
    *,
    now: datetime,
    open_dead_letters: int = 0,
    anomalies: list[Anomaly] | None = None,
) -> IntegrationHealth:
    """The health of one integration from its rows (oldest first); pure."""
    by_task: dict[tuple[str | None, str | None], list[RunRow]] = defaultdict(list)
    for run in runs:
        by_task[run.series].append(run)
    return IntegrationHealth(
        integration=integration,
        **_tries(runs, now),
        throttled=int(
            sum(run.measure("rate_limited") or 0 for run in runs if run.started_at >= now - WINDOW)
        ),
        open_dead_letters=open_dead_letters,
        anomalies=list(anomalies or []),
        tasks=[_task_health(series, rows, now) for series, rows in sorted(by_task.items(), key=_by_name)],
    )


def _task_health(series: tuple[str | None, str | None], runs: list[RunRow], now: datetime) -> TaskHealth:
    finished = [run for run in runs if run.finished and run.duration_s is not None]
    trend = [(run.duration_s or 0.0, run.outcome) for run in finished[-TREND_TRIES:]]
    return TaskHealth(dag_id=series[0], task_id=series[1], **_tries(runs, now), trend=trend)


class _TryFigures(TypedDict):
    last_run_at: datetime | None
    runs: int
    failed_runs: int
    success_rate: float | None
    median_duration_s: float | None
    last_duration_s: float | None
    last_records: int | None


def _tries(runs: list[RunRow], now: datetime) -> _TryFigures:
    """What integrations and tasks both say about their tries (rows oldest first)."""
    recent = [run for run in runs if run.started_at >= now - WINDOW and run.finished]
    succeeded = [run for run in recent if run.outcome == "success"]
    durations = [run.duration_s for run in succeeded if run.duration_s is not None]
    finished = [run for run in runs if run.finished]
    with_volume = [run for run in runs if run.outcome == "success" and run.records is not None]
    return {
        "last_run_at": runs[-1].started_at if runs else None,
        "runs": len(recent),
        "failed_runs": len(recent) - len(succeeded),
        "success_rate": len(succeeded) / len(recent) if recent else None,
        "median_duration_s": statistics.median(durations) if durations else None,
        "last_duration_s": finished[-1].duration_s if finished else None,
        "last_records": with_volume[-1].records if with_volume else None,
    }


def _by_name(item: tuple[tuple[str | None, str | None], list[RunRow]]) -> tuple[str, str]:
    dag_id, task_id = item[0]
    return (dag_id or "", task_id or "")


def recent_runs(engine: Engine, integration: str, limit: int = 50) -> list[dict[str, Any]]:
    """The integration's latest ``limit`` tries, oldest first, as flat JSON-safe dicts for charts.

    Keys: ``integration``, ``dag_id``, ``task_id``, ``run_id``, ``try_number``, ``started_at``,
    ``ended_at`` (ISO 8601), ``duration_s``, ``outcome``, ``error_class``, ``records`` and every
    measure of :data:`reliable_api.monitoring.runs.MEASURES` (``None`` when not reported).
    """
    return [run.to_dict() for run in load_runs(engine, integration=integration, limit=limit)]
