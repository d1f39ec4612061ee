"""One alert per new anomaly, a recovery message when it clears, nothing while muted.

Each anomaly becomes an :class:`AnomalyAlert` (an :class:`~reliable_api.alerting.alert.Alert`,
so every notifier of the provider sends it as it sends failures). Which anomalies are new, still
open or gone is kept in the state DB (:mod:`reliable_api.monitoring.anomaly_log`): a lasting
anomaly is told once, however often the health DAG looks. An anomaly that flaps (clears and
comes back) goes through the storm gate of :func:`reliable_api.alerting.callbacks.dispatch`, so
it is grouped within :data:`STORM_WINDOW` as before. Mute windows (per integration, in the
monitoring config) hold alerts and recoveries back; anomalies still show on the page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reliable_api.alerting.alert import Alert
from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import TransientError

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier

    from reliable_api.monitoring.anomalies import Anomaly

log = logging.getLogger(__name__)

#: A flapping anomaly alerts at most once per window (the count of those held back told next).
STORM_WINDOW = timedelta(hours=6)
#: The alert's ``kind``: anomalies are not failures of a task try.
KIND = "anomaly"
RECOVERED = "anomaly_recovered"
TITLES = {
    "frequency_spike": "Far more runs than usual",
    "runs_stopped": "Runs stopped coming",
    "success_objective": "Success rate below its objective",
    "success_rate_drop": "Success rate dropped",
    "slow": "Run far slower than usual",
    "volume_drop": "Far fewer records than usual",
    "volume_spike": "Far more records than usual",
    "throttling_surge": "Rate limiting surged",
    "dead_letter_growth": "Dead letters growing",
    "quota_burn": "API quota running out",
}


@dataclass(frozen=True)
class AnomalyAlert(Alert):
    """An alert about an anomaly (or its recovery): what kind, where, seen against what was usual."""

    anomaly: str = ""
    observed: float | None = None
    expected: float | None = None

    @property
    def title(self) -> str:
        """One line, e.g. ``Anomaly in crm_contacts: Run far slower than usual (sync.load)``."""
        where = ".".join(part for part in (self.dag_id, self.task_id) if part)
        what = TITLES.get(self.anomaly, self.anomaly)
        head = "Recovered in" if self.kind == RECOVERED else "Anomaly in"
        return f"{head} {self.integration}: {what}" + (f" ({where})" if where else "")

    @property
    def storm_key(self) -> tuple[str, str, str]:
        """Grouped per integration, task, anomaly kind and whether it opens or recovers."""
        return (self.dag_id or "", self.task_id or "", f"{self.kind}:{self.anomaly}:{self.integration}")


def anomaly_alert(anomaly: Anomaly, *, recovered: bool = False) -> AnomalyAlert:
    """The alert telling ``anomaly`` (or that it cleared), with a link to the integration's health."""
    from reliable_api.alerting.alert import airflow_base_url, dlq_url

    message = f"Cleared; it was: {anomaly.message}" if recovered else anomaly.message
    return AnomalyAlert(
        kind=RECOVERED if recovered else KIND,
        dag_id=anomaly.dag_id,
        task_id=anomaly.task_id,
        integration=anomaly.integration,
        message=message,
        dlq_url=dlq_url(airflow_base_url(), anomaly.integration),
        anomaly=anomaly.kind,
        observed=anomaly.observed,
        expected=anomaly.expected,
    )


def check_health(
    context: Mapping[str, Any],
    notifiers: Sequence[BaseNotifier],
    *,
    state_conn_id: str = STATE_CONN_ID,
    storm_window: timedelta = STORM_WINDOW,
) -> dict[str, Any]:
    """The health DAG's task: judge every integration, alert new anomalies and recoveries.

    :returns: for XCom: each integration's health, the anomalies alerted and the recoveries told.
    :raises ConfigurationError: a monitoring config that cannot be read (named).
    :raises StateDatabaseUnavailable: the state DB cannot be read; nothing was alerted.
    """
    from reliable_api.alerting.callbacks import dispatch
    from reliable_api.monitoring.anomaly_log import reconcile
    from reliable_api.monitoring.health import integration_health
    from reliable_api.monitoring.settings import load_config
    from reliable_api.state.engine import state_engine
    from reliable_api.state.schema import utcnow

    config = load_config()
    now = utcnow()
    try:
        engine = state_engine(state_conn_id)
        health = integration_health(engine, now=now, config=config)
    except Exception as error:
        raise StateDatabaseUnavailable(
            f"the state DB ({state_conn_id}) cannot be read: {type(error).__name__}; no integration "
            "was judged and nothing was alerted"
        ) from None
    alerted, recovered = [], []
    for item in health:
        muted = config.for_integration(item.integration).muted(now)
        changes = reconcile(engine, item.integration, item.anomalies, now=now, muted=muted)
        for anomaly in changes.to_alert:
            if dispatch(anomaly_alert(anomaly), notifiers, context, storm_window, state_conn_id):
                alerted.append(anomaly.to_dict())
        for anomaly in changes.recovered:
            dispatch(anomaly_alert(anomaly, recovered=True), notifiers, context, None, state_conn_id)
            recovered.append(anomaly.to_dict())
        if changes.held_by_mute:
            log.info("%s is muted: %d new anomalies not alerted", item.integration, len(changes.held_by_mute))
        log.info(
            "%s: %s, %s tries, %s failed, %s anomalies, %s open dead letters%s",
            item.integration,
            item.status,
            item.runs,
            item.failed_runs,
            len(item.anomalies),
            item.open_dead_letters,
            "".join(f"; {note}" for note in item.notes),
        )
    return {"integrations": [item.to_dict() for item in health], "alerted": alerted, "recovered": recovered}


class StateDatabaseUnavailable(TransientError):
    """The health check could not read the state DB: said plainly, and no alert on a guess."""
