"""Callback factories: one alert per failure, to any Airflow notifier, storms grouped.

.. code-block:: python

    from reliable_api.alerting.callbacks import on_failure_callback, on_retry_callback
    from reliable_api.notifications.webhook import WebhookNotifier

    slack = WebhookNotifier(webhook_conn_id="slack_alerts")
    ApiUpsertOperator(
        ...,
        on_failure_callback=on_failure_callback(slack),
        on_retry_callback=on_retry_callback(slack, from_try=3),
    )

Each callback builds the :class:`~reliable_api.alerting.alert.Alert` once (with the run's
dead-letter count), lets :class:`~reliable_api.alerting.storm.StormGate` decide whether it goes
out, and hands it to every notifier under ``context["alert"]``. Our
:class:`~reliable_api.notifications.webhook.WebhookNotifier` sends it as it is; any other
``BaseNotifier`` (the SMTP provider's ``SmtpNotifier``) can template it, e.g.
``subject="{{ alert.title }}"`` (see :data:`EMAIL_SUBJECT`, :data:`EMAIL_HTML`). A callback never
raises: a failing notifier or state DB is logged and the others still run.

Light on purpose: DAG files import this module; SQLAlchemy is imported only when a callback runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reliable_api.alerting.alert import Alert, alert_from_context
from reliable_api.defaults import STATE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

#: Templates for notifiers that render Jinja (``SmtpNotifier``): the alert's own words.
EMAIL_SUBJECT = "[Airflow] {{ alert.title }}"
EMAIL_HTML = (  # every value escaped: error messages can hold any text
    "<h3>{{ alert.title | e }}</h3>"
    "<p>{% if alert.grouping_note %}<em>{{ alert.grouping_note | e }}</em><br>{% endif %}"
    "Integration: {{ (alert.integration or '-') | e }}<br>Run: {{ (alert.run_id or '-') | e }}<br>"
    "Try: {{ alert.try_number or '-' }}<br>Attempts: {{ alert.attempts or '-' }}<br>"
    "Dead-lettered in this run: {{ alert.dead_lettered if alert.dead_lettered is not none else '-' }}</p>"
    "<pre>{{ alert.message | e }}</pre>"
    '<p>{% if alert.run_url %}<a href="{{ alert.run_url | e }}">View run</a>{% endif %} '
    '{% if alert.dlq_url %}<a href="{{ alert.dlq_url | e }}">Dead letters</a>{% endif %}</p>'
)

#: How long identical alerts are grouped unless a factory is told otherwise.
DEFAULT_STORM_WINDOW = timedelta(minutes=15)


class AlertCallback:
    """A task or DAG callback that alerts every notifier; built by the factories below.

    :param notifiers: Airflow notifiers (any ``BaseNotifier``), called in order.
    :param kind: ``"task_failure"``, ``"task_retry"``, ``"dag_failure"`` or ``"records_dead_lettered"``.
    :param from_try: alert only when the failed try's number is at least this.
    :param storm_window: group identical alerts within this window; ``None`` sends every one.
    :param state_conn_id: the state DB (dead-letter count, storm counts).
    """

    def __init__(
        self,
        notifiers: Sequence[BaseNotifier],
        *,
        kind: str,
        from_try: int = 1,
        storm_window: timedelta | None = DEFAULT_STORM_WINDOW,
        state_conn_id: str = STATE_CONN_ID,
    ) -> None:
        if not notifiers:
            raise ValueError("give at least one notifier")
        if from_try < 1:
            raise ValueError(f"from_try must be at least 1, got {from_try}")
        self.notifiers = list(notifiers)
        self.kind = kind
        self.from_try = from_try
        self.storm_window = storm_window
        self.state_conn_id = state_conn_id

    def __call__(self, context: Mapping[str, Any]) -> None:
        """Alert about the failure in ``context``, unless it is an early try or part of a storm."""
        try:
            alert = self.alert(context)
            if alert is not None:
                dispatch(alert, self.notifiers, context, self.storm_window, self.state_conn_id)
        except Exception as error:  # an alert must never fail what it reports on
            log.error("Alert callback failed: %s", type(error).__name__)

    def alert(self, context: Mapping[str, Any]) -> Alert | None:
        """The alert for ``context``, or ``None`` when this try is too early to alert about."""
        try_number = getattr(context.get("ti"), "try_number", None) or 1
        if try_number < self.from_try:
            log.info("No alert for try %s: alerts start at try %s", try_number, self.from_try)
            return None
        return build_alert(context, self.kind, self.state_conn_id)


def on_failure_callback(
    *notifiers: BaseNotifier,
    storm_window: timedelta | None = DEFAULT_STORM_WINDOW,
    state_conn_id: str = STATE_CONN_ID,
) -> AlertCallback:
    """A task's ``on_failure_callback``: alert when the task has failed for good."""
    return AlertCallback(
        notifiers, kind="task_failure", storm_window=storm_window, state_conn_id=state_conn_id
    )


def on_retry_callback(
    *notifiers: BaseNotifier,
    from_try: int = 2,
    storm_window: timedelta | None = DEFAULT_STORM_WINDOW,
    state_conn_id: str = STATE_CONN_ID,
) -> AlertCallback:
    """A task's ``on_retry_callback``: alert when try ``from_try`` or a later one fails and is retried.

    With the default ``from_try=2`` the first failure, often transient, stays quiet.
    """
    return AlertCallback(
        notifiers,
        kind="task_retry",
        from_try=from_try,
        storm_window=storm_window,
        state_conn_id=state_conn_id,
    )


def on_dag_failure_callback(
    *notifiers: BaseNotifier,
    storm_window: timedelta | None = DEFAULT_STORM_WINDOW,
    state_conn_id: str = STATE_CONN_ID,
) -> AlertCallback:
    """A DAG's ``on_failure_callback`` (runs in the DAG processor): alert when a run has failed."""
    return AlertCallback(
        notifiers, kind="dag_failure", storm_window=storm_window, state_conn_id=state_conn_id
    )


class DeadLetterAlertCallback(AlertCallback):
    """A task's ``on_success_callback`` that alerts when the try dead-lettered records.

    A task that dead-letters a few records within its failure budget succeeds; without this, the
    records would wait in the DLQ unnoticed.
    """

    def alert(self, context: Mapping[str, Any]) -> Alert | None:
        """The alert with the count of records this task dead-lettered in this run; ``None`` if none."""
        from reliable_api.alerting.dead_letters import dead_lettered_in_run

        ti = context.get("ti")
        dag_id, run_id, task_id = (getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id"))
        count = dead_lettered_in_run(dag_id, run_id, self.state_conn_id, task_id=task_id)
        if not count:
            return None
        message = f"{count} record(s) failed for good and wait in the dead-letter queue for a replay"
        return replace(alert_from_context(context, self.kind, exception=message), dead_lettered=count)


def on_dead_letters_callback(
    *notifiers: BaseNotifier,
    storm_window: timedelta | None = DEFAULT_STORM_WINDOW,
    state_conn_id: str = STATE_CONN_ID,
) -> AlertCallback:
    """A task's ``on_success_callback``: alert when the try succeeded but dead-lettered records."""
    return DeadLetterAlertCallback(
        notifiers, kind="records_dead_lettered", storm_window=storm_window, state_conn_id=state_conn_id
    )


def task_alert_callbacks(*notifiers: BaseNotifier, retry_from_try: int = 2) -> dict[str, AlertCallback]:
    """The three task callbacks that leave no failure silent, for ``default_args``.

    A task alerts when it fails for good, when try ``retry_from_try`` or a later one is retried,
    and when it succeeds but dead-lettered records::

        default_args = {"retries": 2, **task_alert_callbacks(slack)}
    """
    return {
        "on_failure_callback": on_failure_callback(*notifiers),
        "on_retry_callback": on_retry_callback(*notifiers, from_try=retry_from_try),
        "on_success_callback": on_dead_letters_callback(*notifiers),
    }


def build_alert(context: Mapping[str, Any], kind: str, state_conn_id: str = STATE_CONN_ID) -> Alert:
    """The alert of ``context`` with the run's dead-letter count from the state DB."""
    from reliable_api.alerting.dead_letters import dead_lettered_in_run

    alert = alert_from_context(context, kind)
    return replace(alert, dead_lettered=dead_lettered_in_run(alert.dag_id, alert.run_id, state_conn_id))


def dispatch(
    alert: Alert,
    notifiers: Sequence[BaseNotifier],
    context: Mapping[str, Any],
    storm_window: timedelta | None,
    state_conn_id: str = STATE_CONN_ID,
) -> bool:
    """Send ``alert`` to every notifier unless a storm window holds it back; return whether sent.

    The notifiers get ``context`` plus ``context["alert"]``. Each failing notifier is logged and
    the next one still runs.
    """
    if storm_window is not None:
        admitted = admit(alert, storm_window, state_conn_id)
        if admitted is None:
            log.info(
                "Alert grouped with an identical one sent less than %s ago: %s", storm_window, alert.title
            )
            return False
        alert = admitted
    enriched = {**context, "alert": alert}
    for notifier in notifiers:
        try:
            notifier(enriched)
        except Exception as error:  # the next notifier must still get its chance
            log.error("Notifier %s failed: %s", type(notifier).__name__, type(error).__name__)
    return True


def admit(alert: Alert, window: timedelta, state_conn_id: str = STATE_CONN_ID) -> Alert | None:
    """``alert`` as it goes out (with the count of those it groups), or ``None`` when held back.

    An unreachable state DB lets every alert through: better twice than never.
    """
    try:
        from reliable_api.alerting.storm import StormGate
        from reliable_api.state.engine import state_engine

        admission = StormGate(state_engine(state_conn_id), window).admit(*alert.storm_key)
    except Exception as error:
        log.warning("Storm grouping unavailable (%s): sending the alert", type(error).__name__)
        return alert
    if not admission.send:
        return None
    return alert.grouped(admission.suppressed, admission.since) if admission.suppressed else alert
