"""``record_run``: one metrics row per task try, with its counts and times."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine, select

from reliable_api.state.metrics import record_run
from reliable_api.state.schema import run_metrics
from reliable_api.state.task import TaskIdentity


def test_each_try_adds_a_row_with_its_counts(state_db: Engine, integration: str) -> None:
    started = datetime(2026, 11, 23, 22, 0, 0, 250000, tzinfo=timezone.utc)
    for try_number in (1, 2):
        task = TaskIdentity(dag_id="d", task_id="t", run_id="r", try_number=try_number)
        record_run(
            state_db, integration, task, started_at=started, counts={"created": try_number, "ratio": 0.5}
        )
    with state_db.connect() as conn:
        rows = list(conn.execute(select(run_metrics).where(run_metrics.c.integration == integration)))
    assert sorted((row.try_number, row.counts["created"], row.counts["ratio"]) for row in rows) == [
        (1, 1, 0.5),
        (2, 2, 0.5),
    ]
    for row in rows:
        assert row.started_at.replace(tzinfo=row.started_at.tzinfo or timezone.utc) == started
        assert row.ended_at.replace(tzinfo=None) >= started.replace(tzinfo=None)
