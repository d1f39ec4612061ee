"""Run metrics: one row per task try with what it did, for the health checks and the UI."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reliable_api.state.schema import run_metrics, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reliable_api.state.task import TaskIdentity


def record_run(
    engine: Engine,
    integration: str,
    task: TaskIdentity,
    *,
    started_at: datetime,
    counts: Mapping[str, Any],
) -> None:
    """Add the metrics row of one finished task try (``counts``: JSON, e.g. counts and a summary)."""
    with engine.begin() as conn:
        conn.execute(
            run_metrics.insert().values(
                integration=integration,
                dag_id=task.dag_id,
                task_id=task.task_id,
                run_id=task.run_id,
                try_number=task.try_number,
                started_at=started_at,
                ended_at=utcnow(),
                counts=dict(counts),
            )
        )
