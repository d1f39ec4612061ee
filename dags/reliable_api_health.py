"""Health of every integration, every 15 minutes: anomalies against each one's own history alert.

``check`` reads the run metrics of the state DB (``reliable_api_state``), computes each
integration's health (:mod:`reliable_api.monitoring.health`) and sends one alert per new anomaly to
``reliable_api_alerts`` (a Slack incoming webhook, or the sandbox's webhook sink in the demo). An
anomaly that lasts is grouped: told again after six hours at most, with how often it was seen.

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
