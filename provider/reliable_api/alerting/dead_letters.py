"""How many records a DAG run dead-lettered, read from the state DB for an alert."""

from __future__ import annotations

import logging

from reliable_api.defaults import STATE_CONN_ID

log = logging.getLogger(__name__)


def dead_lettered_in_run(
    dag_id: str | None, run_id: str | None, state_conn_id: str = STATE_CONN_ID, task_id: str | None = None
) -> int | None:
    """Entries of ``rapi_dead_letters`` last written by this run (or one task of it); ``None`` when unknown.

    Read-only. An unreachable or broken state DB gives ``None`` (logged): an alert must go out
    without the count rather than not at all.
    """
    if not dag_id or not run_id:
        return None
    try:
        from sqlalchemy import func, select

        from reliable_api.state.engine import state_engine
        from reliable_api.state.schema import dead_letters

        query = (
            select(func.count())
            .select_from(dead_letters)
            .where(dead_letters.c.dag_id == dag_id, dead_letters.c.run_id == run_id)
        )
        if task_id is not None:
            query = query.where(dead_letters.c.task_id == task_id)
        with state_engine(state_conn_id).connect() as conn:
            return int(conn.execute(query).scalar_one())
    except Exception as error:  # the count is a detail of the alert, never a reason to lose it
        log.warning("Could not count the run's dead letters in the state DB: %s", type(error).__name__)
        return None
