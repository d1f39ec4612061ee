"""Health of every integration, every 15 minutes: anomalies against each one's own history alert.

``check`` reads the run metrics of the state DB (``reliable_api_state``): one query per
integration for at most 30 days of its history. It judges each against its own history, by hour
of day and day of week (:mod:`reliable_api.monitoring.anomalies`), and sends one alert per new
anomaly to ``reliable_api_alerts`` (a Slack incoming webhook, or the sandbox's webhook sink in the
demo), then a recovery message when it clears. Thresholds, renamed integrations and mute windows:
``$AIRFLOW_HOME/reliable_api/monitoring.yaml`` (docs/monitoring.md). A state DB that cannot be
read fails the task with that said, and alerts nothing.

Parsing stays light: the provider's modules are imported when the task runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

#: Where alerts go, as in the sample integrations.
ALERTS_CONN_ID = "reliable_api_alerts"

with DAG(
    "reliable_api_health",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["reliable_api", "monitoring"],
    doc_md=__doc__,
):

    @task(retries=1, retry_delay=timedelta(minutes=1))
    def check() -> dict[str, Any]:
        from airflow.sdk import get_current_context

        from reliable_api.monitoring.alerts import check_health
        from reliable_api.notifications.webhook import WebhookNotifier

        return check_health(get_current_context(), [WebhookNotifier(webhook_conn_id=ALERTS_CONN_ID)])

    check()
