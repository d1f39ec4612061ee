"""DAGs that fail the ways only a real scheduler shows: a killed task, a missed deadline."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from reliable_api.alerting.callbacks import on_dag_failure_callback, on_failure_callback
from reliable_api.alerting.deadline import deadline_alert
from reliable_api.notifications.webhook import WebhookNotifier

ALERTS = WebhookNotifier(webhook_conn_id="e2e_alerts", format="json")

with DAG(
    "alert_killed_task",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    on_failure_callback=on_dag_failure_callback(ALERTS),
):

    @task(retries=0, on_failure_callback=on_failure_callback(ALERTS))
    def killed() -> None:
        """Dies as an OOM kill would: no exception, no chance to clean up."""
        os.kill(os.getpid(), signal.SIGKILL)

    killed()


with DAG(
    "alert_missed_deadline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    deadline=deadline_alert(timedelta(seconds=5), ALERTS),
):

    @task
    def slow() -> None:
        time.sleep(40)

    slow()
