"""One metrics row per task try, whatever its outcome, and the same numbers to ``Stats``.

Operators wrap their work::

    with RecordedRun(context, self.integration, state_conn_id=self.state_conn_id) as run:
        run.watch(hook)                       # its requests, 429s, retries and waits
        ...
        run.measure(records_in=n, records_written=m)
        run.add_details(summary)              # the operator's own counts, kept in the row

On the way out it writes the row with ``outcome`` ``success``, ``failed`` (and the exception's
class) or ``deferred`` (the try continues after the deferral), with whatever was measured until
then, and emits the numbers (:mod:`reliable_api.monitoring.stats`). Recording never replaces
the task's own exception nor fails a task that succeeded: a broken state DB is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.monitoring.runs import THROTTLING, VOLUME

if TYPE_CHECKING:
    from datetime import datetime

    from reliable_api.http.client import RequestCounters

log = logging.getLogger(__name__)


class CountsRequests(Protocol):
    """What :meth:`RecordedRun.watch` reads: a hook's (or client's) request counters."""

    @property
    def counters(self) -> RequestCounters:
        """Requests, 429s, retries and seconds throttled so far."""


class RecordedRun:
    """Context manager recording the try described by ``context`` under ``integration``.

    :param context: the task's Airflow context (its ``ti``).
    :param integration: the name the row is filed under.
    :param state_conn_id: the state DB connection.
    """

    def __init__(self, context: Any, integration: str, *, state_conn_id: str = STATE_CONN_ID) -> None:
        self.context = context
        self.integration = integration
        self.state_conn_id = state_conn_id
        self.details: dict[str, Any] = {}
        self.volume: dict[str, int] = {}
        self._watched: list[CountsRequests] = []
        self._started: datetime | None = None

    def watch(self, hook: CountsRequests) -> None:
        """Add ``hook``'s request counters to the row when the try ends."""
        self._watched.append(hook)

    def measure(self, **volume: int) -> None:
        """Set volume measures (names from :data:`~reliable_api.monitoring.runs.VOLUME`)."""
        unknown = set(volume) - set(VOLUME)
        if unknown:
            raise ValueError(f"unknown volume measures {sorted(unknown)}; known: {', '.join(VOLUME)}")
        self.volume.update({name: int(value) for name, value in volume.items()})

    def add_details(self, details: Mapping[str, Any]) -> None:
        """Keep the operator's own JSON-safe summary in the row."""
        self.details.update(details)

    def counts(self) -> dict[str, Any]:
        """The row's ``counts``: details, volume, and the watched hooks' throttling."""
        counts = {**self.details, **self.volume}
        throttling: dict[str, float] = dict.fromkeys(THROTTLING, 0)
        for hook in self._watched:
            try:
                counters = hook.counters.as_dict()
            except Exception as error:  # e.g. the hook never got its connection
                log.debug("No request counters from %s: %s", type(hook).__name__, type(error).__name__)
                continue
            for name in THROTTLING:
                throttling[name] += counters.get(name, 0)
            _quota(counts, counters)
        if self._watched:
            throttling["throttled_seconds"] = round(throttling["throttled_seconds"], 3)
            counts.update(throttling)
        return counts

    def __enter__(self) -> RecordedRun:
        from reliable_api.state.schema import utcnow

        self._started = utcnow()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            from airflow.sdk.exceptions import TaskDeferred
        except ImportError:  # Airflow 3.1: TaskDeferred lives in airflow.exceptions
            from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

        if exc is None:
            self._finish("success", None)
        elif isinstance(exc, TaskDeferred):
            self._finish("deferred", None)
        else:
            self._finish("failed", type(exc).__name__)

    def _finish(self, outcome: str, error_class: str | None) -> None:
        from reliable_api.monitoring.stats import emit_run
        from reliable_api.state.engine import state_engine
        from reliable_api.state.metrics import record_run
        from reliable_api.state.schema import utcnow
        from reliable_api.state.task import TaskIdentity

        ended = utcnow()
        started = self._started or ended
        task = TaskIdentity.from_context(self.context)
        counts = self.counts()
        try:
            record_run(
                state_engine(self.state_conn_id),
                self.integration,
                task,
                started_at=started,
                ended_at=ended,
                counts=counts,
                outcome=outcome,
                error_class=error_class,
            )
        except Exception as error:  # the task's own outcome wins over its bookkeeping
            log.error("Could not record the run metrics of %s: %s", self.integration, type(error).__name__)
        emit_run(
            self.integration,
            outcome=outcome,
            duration_s=(ended - started).total_seconds(),
            counts=counts,
            tags={"dag_id": task.dag_id, "task_id": task.task_id},
        )


def _quota(counts: dict[str, Any], counters: Mapping[str, Any]) -> None:
    """The API quota the hook saw last (``quota_remaining`` of ``quota_limit``), when it reports one.

    Of several hooks the scarcest remaining wins: the quota burn check looks for exhaustion.
    """
    remaining, limit = counters.get("quota_remaining"), counters.get("quota_limit")
    if remaining is None or not limit:
        return
    if "quota_remaining" not in counts or remaining < counts["quota_remaining"]:
        counts["quota_remaining"], counts["quota_limit"] = remaining, limit
