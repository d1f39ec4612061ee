"""Say, as an error, which tasks of a starting DAG run name a pool that does not exist.

Such a task is never queued: the scheduler only logs a warning, "Tasks using non-existent pool
... will not be scheduled", once per loop and without the DAG or the task, and the run stays
running with nothing to show why. When the scheduler starts a run, this listener reads the run's
task instances and the pool table, and logs one ERROR per missing pool naming the pool, the DAG,
the run and the tasks, and how to create it. All tasks are checked, not only the provider's: any
of them stalls the run the same way, and the check costs one query per started run.

Registered by the provider's plugin. A listener must never fail the scheduler: errors of its own
are logged and swallowed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    """Log an ERROR for each pool the run's tasks name that is not in the pool table."""
    try:
        missing = missing_pools(dag_run.dag_id, dag_run.run_id)
    except Exception:
        log.warning("Could not check the pools of %s run %s", dag_run.dag_id, dag_run.run_id, exc_info=True)
        return
    for pool, task_ids in sorted(missing.items()):
        log.error(
            "Pool %r does not exist: task(s) %s of DAG %r (run %s) will never run. Create it with "
            '`airflow pools set %s <slots> "<description>"` or import a pools file '
            "(`airflow pools import dags/pools.json`)",
            pool,
            ", ".join(sorted(task_ids)),
            dag_run.dag_id,
            dag_run.run_id,
            pool,
        )


def missing_pools(dag_id: str, run_id: str) -> dict[str, set[str]]:
    """The pools named by the run's task instances that are not in the pool table, with their tasks."""
    from airflow import settings
    from airflow.models.pool import Pool
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    query = (
        select(TaskInstance.pool, TaskInstance.task_id)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        .where(TaskInstance.pool.not_in(select(Pool.pool)))
    )
    # A session of its own, read only: the scheduler's transaction is not ours to touch.
    with Session(settings.engine) as session:
        rows = session.execute(query).all()
    missing: dict[str, set[str]] = defaultdict(set)
    for pool, task_id in rows:
        missing[pool].add(task_id)
    return dict(missing)
