"""Let ``dag.test()`` and ``airflow dags test`` finish a run of a DAG that has a Deadline Alert.

Airflow 3.3's ``dag.test()`` schedules with a DAG serialized and read back in memory, whose
``deadline`` holds the alerts' definitions (dicts); the scheduler's DAG, read from the metadata
DB, holds the ids of their ``deadline_alert`` rows. When the run succeeds,
``DagRun.update_state`` looks each entry up by id to prune the run's pending deadlines, and a
definition fails as an id (``'dict' object has no attribute 'hex'``): the run is a success, then
``airflow dags test`` prints the traceback and exits 1 (apache/airflow#73428).

``update_state`` tells the listeners of the success just before that lookup. This listener then
puts the ids of the run's DAG version's ``deadline_alert`` rows (those the run's deadlines were
created from) in place of the definitions, so the lookup and the pruning go as in the scheduler.
It changes nothing where the entries are ids or alert objects already: a scheduler's run,
Airflow 3.1 and 3.2, and a release with the fix. Registered by the provider's plugin.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    """Swap a ``dag.test()`` run's deadline definitions for the ids of their DB rows."""
    dag: Any = getattr(dag_run, "dag", None)
    deadline = getattr(dag, "deadline", None)
    if not isinstance(deadline, list) or not any(isinstance(entry, dict) for entry in deadline):
        return
    from airflow import settings
    from airflow.models.deadline_alert import DeadlineAlert
    from airflow.models.serialized_dag import SerializedDagModel
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    serialized_dag_id = select(SerializedDagModel.id).where(
        SerializedDagModel.dag_version_id == dag_run.created_dag_version_id
    )
    # A session of its own, read only: the run reaches listeners detached from dag.test()'s.
    with Session(settings.engine) as session:
        ids = session.scalars(
            select(DeadlineAlert.id).where(DeadlineAlert.serialized_dag_id.in_(serialized_dag_id))
        ).all()
    dag.deadline = [str(alert_id) for alert_id in ids]
    log.debug("dag.test() of %s: its deadline alerts by id %s (apache/airflow#73428)", dag_run.dag_id, ids)
