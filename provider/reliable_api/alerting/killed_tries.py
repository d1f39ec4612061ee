"""Alert about a try that died without a word: Airflow runs no callback for it.

A task process killed with SIGKILL (the kernel's OOM killer, a worker's pod evicted) cannot run
its ``on_retry_callback``, and Airflow 3 does not run it elsewhere either: the supervisor reports
the try failed, the scheduler retries it, and nobody hears of it (apache/airflow#60858). Every
try of the provider's operators leaves a run-metrics row, whatever its outcome
(:mod:`reliable_api.monitoring.recorder`); the next try that finds none for the try before it
runs the task's ``on_retry_callback`` for that try, with its number and an error saying what
happened. A try that failed too early to be recorded (a template it could not render, the state
DB down) was alerted by Airflow already and is alerted again here: twice rather than never.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import ReliableApiError

log = logging.getLogger(__name__)


class TryVanished(ReliableApiError):
    """A try of the task ended without reporting: its process was killed."""


class EarlierTry:
    """``ti`` as the callbacks of its try ``try_number`` would have seen it."""

    def __init__(self, ti: Any, try_number: int) -> None:
        self._ti = ti
        self.try_number = try_number

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)


def alert_unrecorded_previous_try(
    context: Mapping[str, Any], on_retry: Any, state_conn_id: str = STATE_CONN_ID
) -> bool:
    """Run ``on_retry`` for the try before this one when that try left no run-metrics row.

    Only on a try's first start: a try resumed after a deferral has its own row already.
    Never raises: an alert must not fail the task it is about. Returns whether it alerted.

    :param context: the running try's context.
    :param on_retry: the task's ``on_retry_callback`` (a callable, a list of them, or ``None``).
    """
    ti = context.get("ti")
    number = getattr(ti, "try_number", None)
    callbacks = _callables(on_retry)
    if not callbacks or not isinstance(number, int) or number < 2:
        return False
    try:
        if _recorded_tries(context, state_conn_id, (number - 1, number)):
            return False
    except Exception as error:  # no state DB, no way to tell: stay quiet rather than guess
        log.warning("Could not check the earlier try's record: %s", type(error).__name__)
        return False
    earlier = EarlierTry(ti, number - 1)
    message = (
        f"try {number - 1} ended without reporting an outcome: its process was killed "
        "(SIGKILL, out of memory, its worker lost) and Airflow ran no callback for it"
    )
    log.warning("Try %d of this task left no record: alerting about it now", number - 1)
    failed = {**context, "ti": earlier, "task_instance": earlier, "exception": TryVanished(message)}
    for callback in callbacks:
        try:
            callback(failed)
        except Exception as error:  # the next callback must still get its chance
            log.error("on_retry_callback failed for the vanished try: %s", type(error).__name__)
    return True


def _recorded_tries(context: Mapping[str, Any], state_conn_id: str, tries: tuple[int, ...]) -> bool:
    """Whether the state DB holds a run-metrics row of any of ``tries`` of this task instance.

    Rows carry no map index: a mapped task's other instances' rows count too (fewer alerts,
    never a wrong one).
    """
    from sqlalchemy import select

    from reliable_api.state.engine import state_engine
    from reliable_api.state.schema import run_metrics
    from reliable_api.state.task import TaskIdentity

    task = TaskIdentity.from_context(context)
    c = run_metrics.c
    query = (
        select(c.id)
        .where(c.dag_id == task.dag_id, c.task_id == task.task_id, c.run_id == task.run_id)
        .where(c.try_number.in_(tries))
        .limit(1)
    )
    with state_engine(state_conn_id).connect() as conn:
        return conn.execute(query).first() is not None


def _callables(value: Any) -> list[Callable[[Mapping[str, Any]], Any]]:
    if value is None:
        return []
    return [item for item in (value if isinstance(value, list | tuple) else [value]) if callable(item)]
