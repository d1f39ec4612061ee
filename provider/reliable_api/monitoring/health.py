"""Per-integration health from the run metrics, for the UI's health page and the health DAG.

A "try" is one task try of the integration (an extract, a validation, a load...), finished as a
success or a failure; deferred tries are not counted. Counts, rates and durations cover the last
:data:`WINDOW`; anomalies judge the latest tries against up to :data:`HISTORY` of the
integration's own history (:mod:`reliable_api.monitoring.anomalies`).

Cheap on purpose: one query lists the integrations with their last activity, then one query per
integration reads at most :data:`MAX_HISTORY_ROWS` of its rows (its earlier names included, see
``renamed_from`` in :mod:`reliable_api.monitoring.settings`), and one query counts dead letters.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from reliable_api.monitoring.anomalies import Anomaly, judge
from reliable_api.monitoring.runs import RunRow, ensure_history_index, last_activity, load_runs
from reliable_api.monitoring.settings import MonitoringConfig

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
#: How far back the checks and charts read an integration's history.
HISTORY = timedelta(days=30)
#: The most rows read per integration, newest first: bounded work on a busy state DB.
MAX_HISTORY_ROWS = 20_000
#: How many of a task's latest finished tries its trend (a chart on the health page) shows.
TREND_TRIES = 30


@dataclass(frozen=True)
class TaskHealth:
    """How one task of an integration is doing, and where its time goes.

    :param trend: the latest finished tries, oldest first, as ``(duration_s, outcome)``.
    :param time_spent: seconds over the window by what the task waited for: ``rate limit``
        (the shared limiter), and the rest as the task's kind of work (``API``, ``validating``,
        ``writing``), see :func:`work_kind`.

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
    time_spent: dict[str, float] = field(default_factory=dict)

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
            "time_spent": self.time_spent,
        }


@dataclass(frozen=True)
class IntegrationHealth:
    """How one integration is doing; JSON-safe through :meth:`to_dict`.

    :param last_run_at: when its latest try started (ever, not only within the history).
    :param runs: finished tries in the window; ``failed_runs`` of them failed.
    :param success_rate: succeeded / finished in the window; ``None`` without tries.
    :param median_duration_s: of the successful tries in the window.
    :param last_duration_s: of the latest finished try.
    :param last_records: records of the latest successful try that reported a volume.
    :param throttled: 429 answers in the window.
    :param open_dead_letters: entries of its dead-letter queue still ``open``.
    :param notes: what could not be judged and why, in plain words (short history, skewed clocks).
    :param retired: why it looks retired (no run or no volume for its ``retired_after_days``).
    :param objective: its success objective (the checks' threshold).
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
    notes: list[str] = field(default_factory=list)
    retired: str | None = None
    last_volume_at: datetime | None = None
    objective: float = 0.99
    renamed_from: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``retired``, ``anomalous``, ``unjudged`` (no tries at all) or ``ok``; ``notes`` say more."""
        if self.retired:
            return "retired"
        if self.anomalies:
            return "anomalous"
        return "unjudged" if self.last_run_at is None else "ok"

    def to_dict(self) -> dict[str, Any]:
        """Every field, times in ISO 8601, anomalies and tasks as dicts."""
        return {
            "integration": self.integration,
            "status": self.status,
            "last_run_at": _iso(self.last_run_at),
            "runs": self.runs,
            "failed_runs": self.failed_runs,
            "success_rate": self.success_rate,
            "objective": self.objective,
            "median_duration_s": self.median_duration_s,
            "last_duration_s": self.last_duration_s,
            "last_records": self.last_records,
            "last_volume_at": _iso(self.last_volume_at),
            "throttled": self.throttled,
            "open_dead_letters": self.open_dead_letters,
            "retired": self.retired,
            "renamed_from": list(self.renamed_from),
            "notes": list(self.notes),
            "anomalies": [anomaly.to_dict() for anomaly in self.anomalies],
            "tasks": [task.to_dict() for task in self.tasks],
        }


def integration_health(
    engine: Engine,
    *,
    now: datetime | None = None,
    config: MonitoringConfig | None = None,
    only: str | None = None,
    rows: dict[str, list[RunRow]] | None = None,
) -> list[IntegrationHealth]:
    """The health of every integration with tries or open dead letters, by name.

    :param now: the moment to judge at (timezone-aware); default the current time.
    :param only: just this integration (the page's detail view).
    :param rows: filled with each integration's rows as read (for its charts), when given.
    :raises sqlalchemy.exc.SQLAlchemyError: when the state DB cannot be read; callers say so.
    """
    from reliable_api.deadletter.queue import DeadLetterQueue
    from reliable_api.state.schema import utcnow

    now = now or utcnow()
    config = config or MonitoringConfig()
    ensure_history_index(engine)
    aliases = config.aliases()
    last_seen: dict[str, datetime] = {}
    for name, seen in last_activity(engine).items():
        current = aliases.get(name, name)
        last_seen[current] = max(seen, last_seen.get(current, seen))
    dead_letters: dict[str, dict[str, int]] = defaultdict(dict)
    for name, counts in DeadLetterQueue(engine).counts().items():
        for state, count in counts.items():
            target = dead_letters[aliases.get(name, name)]
            target[state] = target.get(state, 0) + count
    names = sorted(set(last_seen) | {name for name, counts in dead_letters.items() if counts.get("open")})
    result = []
    for name in names if only is None else [only]:
        settings = config.for_integration(name)
        runs = load_runs(
            engine,
            since=now - HISTORY,
            integrations=[name, *settings.renamed_from],
            limit=MAX_HISTORY_ROWS,
        )
        # Rows filed under an earlier name are this integration's history.
        runs = [run if run.integration == name else replace(run, integration=name) for run in runs]
        if rows is not None:
            rows[name] = runs
        judgement = judge(name, runs, now=now, settings=settings)
        health = summarize(
            name,
            runs,
            now=now,
            open_dead_letters=dead_letters.get(name, {}).get("open", 0),
            anomalies=judgement.anomalies,
            notes=judgement.notes,
            last_run_at=last_seen.get(name),
            retired_after=timedelta(days=settings.retired_after_days),
            objective=settings.thresholds.success_objective,
            renamed_from=settings.renamed_from,
        )
        result.append(health)
    return result


def summarize(
    integration: str,
    runs: list[RunRow],
    *,
    now: datetime,
    open_dead_letters: int = 0,
    anomalies: list[Anomaly] | None = None,
    notes: list[str] | None = None,
    last_run_at: datetime | None = None,
    retired_after: timedelta = timedelta(days=7),
    objective: float = 0.99,
    renamed_from: tuple[str, ...] = (),
) -> IntegrationHealth:
    """The health of one integration from its rows (oldest first); pure."""
    by_task: dict[tuple[str | None, str | None], list[RunRow]] = defaultdict(list)
    for run in runs:
        by_task[run.series].append(run)
    figures = _tries(runs, now)
    last_run_at = last_run_at or figures["last_run_at"]
    figures["last_run_at"] = last_run_at
    volumes = [run.started_at for run in runs if (run.records or 0) > 0]
    last_volume_at = volumes[-1] if volumes else None
    return IntegrationHealth(
        integration=integration,
        **figures,
        throttled=int(
            sum(run.measure("rate_limited") or 0 for run in runs if run.started_at >= now - WINDOW)
        ),
        open_dead_letters=open_dead_letters,
        anomalies=list(anomalies or []),
        tasks=[_task_health(series, rows, now) for series, rows in sorted(by_task.items(), key=_by_name)],
        notes=list(notes or []),
        retired=_retired(last_run_at, last_volume_at, bool(runs), now, retired_after),
        last_volume_at=last_volume_at,
        objective=objective,
        renamed_from=renamed_from,
    )


def _retired(
    last_run: datetime | None, last_volume: datetime | None, any_runs: bool, now: datetime, after: timedelta
) -> str | None:
    days = after.total_seconds() / 86_400
    if last_run is None:
        return None
    if now - last_run > after:
        return f"no run for {(now - last_run).days} days (retired after {days:g})"
    if any_runs and (last_volume is None or now - last_volume > after):
        return f"runs, but moved no records for {days:g} days or more"
    return None


def work_kind(run: RunRow) -> str:
    """What a try's time went to besides the rate limit: API calls, validating or writing."""
    if (run.measure("requests") or 0) > 0:
        return "API"
    if "validation" in run.counts or "rejected" in run.counts:
        return "validating"
    return "writing" if run.measure("records_written") is not None else "working"


def _task_health(series: tuple[str | None, str | None], runs: list[RunRow], now: datetime) -> TaskHealth:
    finished = [run for run in runs if run.finished and (run.duration_s or -1) >= 0]
    trend = [(run.duration_s or 0.0, run.outcome) for run in finished[-TREND_TRIES:]]
    spent: dict[str, float] = defaultdict(float)
    for run in runs:
        if run.started_at < now - WINDOW or (run.duration_s or -1) < 0:
            continue
        waited = min(run.measure("throttled_seconds") or 0.0, run.duration_s or 0.0)
        spent["rate limit"] += waited
        spent[work_kind(run)] += (run.duration_s or 0.0) - waited
    return TaskHealth(
        dag_id=series[0],
        task_id=series[1],
        **_tries(runs, now),
        trend=trend,
        time_spent={kind: round(seconds, 3) for kind, seconds in spent.items() if seconds > 0},
    )


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
    recent = [run for run in runs if now - WINDOW <= run.started_at <= now and run.finished]
    succeeded = [run for run in recent if run.outcome == "success"]
    durations = [run.duration_s for run in succeeded if run.duration_s is not None and run.duration_s >= 0]
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def recent_runs(engine: Engine, integration: str, limit: int = 50) -> list[dict[str, Any]]:
    """The integration's latest ``limit`` tries, oldest first, as flat JSON-safe dicts for charts.

    Keys: ``integration``, ``dag_id``, ``task_id``, ``run_id``, ``try_number``, ``started_at``,
    ``ended_at`` (ISO 8601), ``duration_s``, ``outcome``, ``error_class``, ``records`` and every
    measure of :data:`reliable_api.monitoring.runs.MEASURES` (``None`` when not reported).
    """
    return [run.to_dict() for run in load_runs(engine, integrations=[integration], limit=limit)]
