"""One alert per new anomaly, through the provider's alerting path (notifiers, storm grouping).

Each anomaly becomes an :class:`AnomalyAlert` (an :class:`~reliable_api.alerting.alert.Alert`,
so every notifier of the provider sends it as it sends failures) and goes through
:func:`reliable_api.alerting.callbacks.dispatch`: the storm gate lets the first alert of an
(integration, task, anomaly kind) out and holds identical ones back for :data:`STORM_WINDOW`, so an
anomaly that lasts is told once, then again after the window with how often it was seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reliable_api.alerting.alert import Alert
from reliable_api.defaults import STATE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier

    from reliable_api.monitoring.anomalies import Anomaly
    from reliable_api.monitoring.health import IntegrationHealth

log = logging.getLogger(__name__)

#: Identical anomaly alerts within this window are grouped: a health check every 15 minutes
#: tells a lasting anomaly every 6 hours, not 24 times.
STORM_WINDOW = timedelta(hours=6)
#: The alert's ``kind``: anomalies are not failures of a task try.
KIND = "anomaly"
TITLES = {
    "stale": "No recent successful run",
    "success_rate_drop": "Success rate dropped",
    "slow": "Run far slower than usual",
    "volume_drop": "Far fewer records than usual",
    "volume_spike": "Far more records than usual",
    "throttling_surge": "Rate-limit answers surged",
}


@dataclass(frozen=True)
class AnomalyAlert(Alert):
    """An alert about an anomaly: what kind, where, seen against what was expected."""

    anomaly: str = ""
    observed: float | None = None
    expected: float | None = None

    @property
    def title(self) -> str:
        """One line, e.g. ``Anomaly in crm_contacts: Run far slower than usual (sync.load)``."""
        where = ".".join(part for part in (self.dag_id, self.task_id) if part)
        what = TITLES.get(self.anomaly, self.anomaly)
        return f"Anomaly in {self.integration}: {what}" + (f" ({where})" if where else "")

    @property
    def storm_key(self) -> tuple[str, str, str]:
        """Grouped per integration, task and anomaly kind."""
        return (self.dag_id or "", self.task_id or "", f"{KIND}:{self.anomaly}:{self.integration}")


def anomaly_alert(anomaly: Anomaly) -> AnomalyAlert:
    """The alert telling ``anomaly``, with a link to the integration's dead letters."""
    from reliable_api.alerting.alert import airflow_base_url, dlq_url

    return AnomalyAlert(
        kind=KIND,
        dag_id=anomaly.dag_id,
        task_id=anomaly.task_id,
        integration=anomaly.integration,
        message=anomaly.message,
        dlq_url=dlq_url(airflow_base_url(), anomaly.integration),
        anomaly=anomaly.kind,
        observed=anomaly.observed,
        expected=anomaly.expected,
    )


def alert_anomalies(
    health: Iterable[IntegrationHealth],
    notifiers: Sequence[BaseNotifier],
    context: Mapping[str, Any],
    *,
    storm_window: timedelta = STORM_WINDOW,
    state_conn_id: str = STATE_CONN_ID,
) -> list[Anomaly]:
    """Alert every notifier about each anomaly not alerted within ``storm_window``; return those sent.

    :param context: the running task's context, handed to the notifiers.
    """
    from reliable_api.alerting.callbacks import dispatch

    sent = []
    for item in health:
        for anomaly in item.anomalies:
            if dispatch(anomaly_alert(anomaly), notifiers, context, storm_window, state_conn_id):
                sent.append(anomaly)
            else:
                log.info("Anomaly already alerted within %s: %s", storm_window, anomaly.message)
    return sent


def check_health(
    context: Mapping[str, Any],
    notifiers: Sequence[BaseNotifier],
    *,
    state_conn_id: str = STATE_CONN_ID,
    storm_window: timedelta = STORM_WINDOW,
) -> dict[str, Any]:
    """The health DAG's task: every integration's health, and alerts for new anomalies.

    :returns: for XCom: each integration's health, and the anomalies alerted now.
    """
    from reliable_api.monitoring.health import integration_health
    from reliable_api.state.engine import state_engine

    health = integration_health(state_engine(state_conn_id))
    sent = alert_anomalies(health, notifiers, context, storm_window=storm_window, state_conn_id=state_conn_id)
    for item in health:
        log.info(
            "%s: %s runs, %s failed, %s anomalies, %s open dead letters",
            item.integration,
            item.runs,
            item.failed_runs,
            len(item.anomalies),
            item.open_dead_letters,
        )
    return {
        "integrations": [item.to_dict() for item in health],
        "alerted": [anomaly.to_dict() for anomaly in sent],
    }
