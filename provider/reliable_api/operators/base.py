"""``ReliableOperator``: what the provider's operators share.

- one vocabulary: ``integration`` (the name metrics, dead letters and the ledger are filed
  under), ``state_conn_id``, ``records`` (the input batch), ``max_failure_ratio``; every
  ``*conn_id`` templated;
- the recorded run (:class:`~reliable_api.monitoring.recorder.RecordedRun`): one metrics row per try;
- the failure budget: fail the task when too large a share of a batch was dead-lettered;
- deferral on a long wait: a wait longer than the connection's ``defer_after`` frees the worker
  slot and the triggerer wakes the task;
- a **Dead letters** link on the task: the DLQ browser filtered to the task's run;
- OpenLineage: the datasets a try read and wrote (:mod:`reliable_api.operators.lineage`).

``__init__`` only stores arguments; connections, the state DB and Airflow's config are read in
``execute``. Light on purpose: DAG files import the operators.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context
    from airflow.sdk.types import TaskInstanceKey

    from reliable_api.exceptions import RateLimited
    from reliable_api.monitoring.recorder import RecordedRun
    from reliable_api.operators.lineage import DatasetId, TaskLineage

#: The dead-lettered share of a batch above which a task fails (the design's 5 %).
DEFAULT_MAX_FAILURE_RATIO = 0.05


class DeadLettersLink(BaseOperatorLink):
    """The DLQ browser filtered to the task's integration and run (a button on the task)."""

    name = "Dead letters"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """``{base_url}/reliable-api/dlq?integration=...&dag_id=...&run_id=...``, built in the worker."""
        from urllib.parse import urlencode

        from reliable_api.alerting.alert import DLQ_PAGE_PATH, airflow_base_url

        query = {"dag_id": ti_key.dag_id, "run_id": ti_key.run_id}
        integration = getattr(operator, "integration", None)
        if isinstance(integration, str) and integration:
            query = {"integration": integration, **query}
        return f"{airflow_base_url().rstrip('/')}{DLQ_PAGE_PATH}?{urlencode(query)}"


class ReliableOperator(BaseOperator):
    """Base of the provider's operators: integration, recorded run, failure budget, deferral.

    :param integration: the name its run metrics (and dead letters, ledger) are filed under
        (templated); default the task's or DAG's ``params["integration"]``, else
        :meth:`default_integration`.
    :param state_conn_id: the state DB connection (templated); without it, SQLite under
        ``$AIRFLOW_HOME`` on a single-machine executor, refused on a distributed one.
    """

    template_fields: Sequence[str] = ("integration", "state_conn_id")
    operator_extra_links = (DeadLettersLink(),)

    def __init__(
        self, *, integration: str | None = None, state_conn_id: str = STATE_CONN_ID, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.integration = integration
        self.state_conn_id = state_conn_id
        #: what this try read and wrote, set by ``execute`` for OpenLineage
        self.lineage: TaskLineage | None = None

    def pre_execute(self, context: Context) -> None:
        """Refuse a rendered ``*conn_id`` that names no Airflow connection, naming it.

        Without this check the hook's lookup fails with Airflow's ``AirflowNotFoundException``,
        which Airflow retries; a ``ConfigurationError`` fails the task at once, with its alert.
        ``state_conn_id`` is left to the state DB, which may do without its connection.

        :raises ConfigurationError: naming the argument, its rendered value and what to create.
        """
        from reliable_api.connections import find_connection

        super().pre_execute(context)
        for field in self.template_fields:
            value = getattr(self, field, None)
            if not field.endswith("conn_id") or field == "state_conn_id" or not isinstance(value, str):
                continue
            if value and find_connection(value) is None:
                raise ConfigurationError(
                    f"task {self.task_id!r}: {field}={value!r} names no Airflow connection: create"
                    f" it (UI, `airflow connections add {value}`, or AIRFLOW_CONN_{value.upper()})"
                    " or correct the argument"
                )

    def declare_target(self, asset: Asset | None) -> None:
        """Add ``asset`` (the load's target) to the task's outlets, unless it is there or ``None``."""
        if asset is not None and asset not in self.outlets:
            self.outlets.append(asset)

    def record_lineage(
        self,
        inputs: Sequence[DatasetId | None] = (),
        outputs: Sequence[DatasetId | None] = (),
        quality: Mapping[str, Any] | None = None,
    ) -> None:
        """Keep the datasets this try read and wrote (``None``: records given inline)."""
        from reliable_api.operators.lineage import TaskLineage

        self.lineage = TaskLineage(
            inputs=[item for item in inputs if item is not None],
            outputs=[item for item in outputs if item is not None],
            quality=quality,
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage's ``OperatorLineage`` of the try; ``None`` without the OpenLineage provider."""
        from reliable_api.operators.lineage import operator_lineage

        return operator_lineage(self.lineage)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """The same for a failed try: what it read (and the checks that failed it)."""
        return self.get_openlineage_facets_on_complete(task_instance)

    def default_integration(self) -> str | None:
        """The integration when neither the argument nor ``params`` names one."""
        return None

    def integration_name(self, context: Context) -> str:
        """The integration this try is filed under (see the ``integration`` parameter).

        :raises ConfigurationError: when nothing names one.
        """
        from reliable_api.alerting.alert import integration_of

        name = self.integration or integration_of(context) or self.default_integration()
        if not name:
            raise ConfigurationError(f"task {self.task_id!r} needs integration= (or params['integration'])")
        return name

    def recorded(self, context: Context) -> RecordedRun:
        """The run-metrics recorder of this try (a context manager).

        A try that finds no record of the try before it alerts about that one: it was killed,
        and Airflow runs no callback for a killed try (:mod:`reliable_api.alerting.killed_tries`).
        """
        from reliable_api.alerting.killed_tries import alert_unrecorded_previous_try
        from reliable_api.monitoring.recorder import RecordedRun

        alert_unrecorded_previous_try(context, self.on_retry_callback, self.state_conn_id)
        return RecordedRun(context, self.integration_name(context), state_conn_id=self.state_conn_id)

    def defer_on_long_wait(self, wait: RateLimited, defer_after: float, method_name: str = "resume") -> None:
        """Defer the task for ``wait.retry_after`` when it is longer than ``defer_after`` seconds.

        :raises RateLimited: ``wait`` itself for a shorter wait, which the hook's retries did not
            get past: this try fails and Airflow retries it.
        """
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        seconds = wait.retry_after or 0.0
        if seconds <= defer_after:
            raise wait
        self.log.info("The API asks to wait %.1f s: deferring instead of holding a worker slot", seconds)
        moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        self.defer(trigger=DateTimeTrigger(moment), method_name=method_name)


def enforce_failure_budget(failed: int, total: int, max_failure_ratio: float) -> None:
    """Fail when more than ``max_failure_ratio`` of ``total`` records were dead-lettered.

    :raises FailureBudgetExceeded: naming the counts and the budget.
    """
    from reliable_api.exceptions import FailureBudgetExceeded

    if total and failed / total > max_failure_ratio:
        raise FailureBudgetExceeded(failed=failed, total=total, max_failure_ratio=max_failure_ratio)


def checked_ratio(max_failure_ratio: float) -> float:
    """``max_failure_ratio`` when it is a share between 0 and 1.

    :raises ConfigurationError: naming the value otherwise.
    """
    if not 0.0 <= max_failure_ratio <= 1.0:
        raise ConfigurationError(f"max_failure_ratio must be between 0 and 1, got {max_failure_ratio!r}")
    return float(max_failure_ratio)


def renamed_argument(kwargs: dict[str, Any], old: str, new: str, value: Any, operator: str) -> Any:
    """``value`` of ``new``, or the deprecated ``old`` popped from ``kwargs`` (with a warning).

    :raises ConfigurationError: when both are given.
    """
    if old not in kwargs:
        return value
    if value is not None:
        raise ConfigurationError(f"{operator}: give {new}= only ({old}= is its deprecated old name)")
    from airflow.exceptions import AirflowProviderDeprecationWarning

    warnings.warn(
        f"{operator}({old}=...) is deprecated: use {new}=", AirflowProviderDeprecationWarning, stacklevel=3
    )
    return kwargs.pop(old)
