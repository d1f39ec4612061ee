"""Run metrics: one row per task try with what it did, for the health checks and the UI."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reliable_api.state.schema import run_metrics, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reliable_api.state.task import TaskIdentity

#: What a try can end as: ``deferred`` tries continue later and count neither way.
OUTCOMES = ("success", "failed", "deferred")


def record_run(
    engine: Engine,
    integration: str,
    task: TaskIdentity,
    *,
    started_at: datetime,
    counts: Mapping[str, Any],
    outcome: str = "success",
    error_class: str | None = None,
    ended_at: datetime | None = None,
) -> None:
    """Add the metrics row of one finished task try (``counts``: JSON, e.g. counts and a summary).

    :param outcome: one of :data:`OUTCOMES`.
    :param error_class: the exception class of a failed try.
    :param ended_at: when the try ended; default now.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    with engine.begin() as conn:
        conn.execute(
            run_metrics.insert().values(
                integration=integration,
                dag_id=task.dag_id,
                task_id=task.task_id,
                run_id=task.run_id,
                try_number=task.try_number,
                started_at=started_at,
                ended_at=ended_at or utcnow(),
                counts=dict(counts),
                outcome=outcome,
                error_class=error_class[:128] if error_class else None,
            )
        )
