"""The metrics row of one task try, read back from ``rapi_run_metrics``.

Every row's ``counts`` JSON holds the operator's own summary plus the standard measures below,
under the same names as the ``Stats`` metrics (:mod:`reliable_api.monitoring.stats`).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: How many records a try read, passed on, wrote (to the API, the DB or staging), found
#: unchanged or duplicate, and dead-lettered.
VOLUME = ("records_in", "records_out", "records_written", "records_skipped", "dead_lettered")
#: What the try's HTTP hooks did: requests sent, 429 answers, retries, seconds waited for the limit.
THROTTLING = ("requests", "rate_limited", "retries", "throttled_seconds", "deferred_seconds")
MEASURES = VOLUME + THROTTLING
HISTORY_INDEX = "ix_rapi_run_metrics_integration_started"
_NUMBERS = (int, float)
#: The columns :func:`load_runs` reads, in the order :meth:`RunRow.from_values` takes them.
COLUMNS = (
    "integration",
    "started_at",
    "ended_at",
    "outcome",
    "error_class",
    "dag_id",
    "task_id",
    "run_id",
    "try_number",
    "counts",
)
_indexed: weakref.WeakSet[Engine] = weakref.WeakSet()


@dataclass(frozen=True)
class RunRow:
    """One task try of an integration: when, how it ended, and its counts."""

    integration: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str = "success"
    error_class: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    counts: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, *values: Any) -> RunRow:
        """From a row's values of :data:`COLUMNS`, in that order.

        A row of schema version 1 has no outcome: a success. Positional, because reading a
        million rows by column name costs seconds.
        """
        integration, started, ended, outcome, error, dag_id, task_id, run_id, try_number, counts = values
        return cls(
            integration,
            started if started.tzinfo else started.replace(tzinfo=timezone.utc),
            None if ended is None else ended if ended.tzinfo else ended.replace(tzinfo=timezone.utc),
            outcome or "success",
            error,
            dag_id,
            task_id,
            run_id,
            try_number,
            counts if isinstance(counts, Mapping) else {},
        )

    @property
    def finished(self) -> bool:
        """Whether the try ended as a success or a failure (not a deferral)."""
        return self.outcome in ("success", "failed")

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end."""
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()

    @property
    def series(self) -> tuple[str | None, str | None]:
        """The task whose tries are comparable with each other: (DAG, task)."""
        return (self.dag_id, self.task_id)

    @property
    def name(self) -> str:
        """``dag.task``, for messages."""
        return ".".join(part for part in self.series if part) or self.integration

    def measure(self, name: str) -> float | None:
        """A number from ``counts``; ``None`` when the try did not report it (or not as a number)."""
        value: Any = self.counts.get(name)
        return float(value) if type(value) in _NUMBERS else None  # bool is no number here

    @cached_property
    def records(self) -> int | None:
        """The try's volume: records in, else out, else a version-1 row's ``records``."""
        for name in ("records_in", "records_out", "records"):
            value = self.measure(name)
            if value is not None:
                return int(value)
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, flat: identity, times, duration, outcome and every standard measure."""
        data: dict[str, Any] = {
            "integration": self.integration,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "try_number": self.try_number,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_s": self.duration_s,
            "outcome": self.outcome,
            "error_class": self.error_class,
            "records": self.records,
        }
        data.update({name: self.measure(name) for name in MEASURES})
        return data


def ensure_history_index(engine: Engine) -> None:
    """Create the index on (integration, started_at) of the run metrics, once per engine.

    With it one integration's bounded history is an index range, not a scan of every row.
    """
    if engine in _indexed:
        return
    from sqlalchemy import Index
    from sqlalchemy.schema import CreateIndex

    from reliable_api.state.schema import run_metrics

    index = next((i for i in run_metrics.indexes if i.name == HISTORY_INDEX), None)
    if index is None:
        index = Index(HISTORY_INDEX, run_metrics.c.integration, run_metrics.c.started_at)
    with engine.begin() as conn:
        conn.execute(CreateIndex(index, if_not_exists=True))
    _indexed.add(engine)


def load_runs(
    engine: Engine,
    *,
    since: datetime | None = None,
    integration: str | None = None,
    integrations: Sequence[str] = (),
    limit: int | None = None,
) -> list[RunRow]:
    """The rows started at or after ``since`` (of one integration, or of ``integrations``), oldest first.

    :param limit: only the newest ``limit`` rows.
    """
    from sqlalchemy import select

    from reliable_api.state.schema import run_metrics

    names = [*integrations, *([integration] if integration else [])]
    columns = [run_metrics.c[name] for name in COLUMNS]
    query = select(*columns).order_by(run_metrics.c.started_at.desc(), run_metrics.c.id.desc())
    if since is not None:
        query = query.where(run_metrics.c.started_at >= since)
    if names:
        query = query.where(run_metrics.c.integration.in_(names))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = [RunRow.from_values(*row) for row in conn.execute(query)]
    rows.reverse()
    return rows


def last_activity(engine: Engine) -> dict[str, datetime]:
    """When each integration's latest try started, over all its rows: one grouped query."""
    from sqlalchemy import func, select

    from reliable_api.state.schema import run_metrics

    query = select(run_metrics.c.integration, func.max(run_metrics.c.started_at)).group_by(
        run_metrics.c.integration
    )
    with engine.connect() as conn:
        return {name: aware(latest) for name, latest in conn.execute(query) if latest is not None}


def aware(value: datetime) -> datetime:
    """``value`` in UTC: SQLite gives naive datetimes back, and every time in the state DB is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
