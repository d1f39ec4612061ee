"""Deadline Alerts: JSON as Airflow stores them, run as the triggerer runs them, any notifier."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

try:
    from airflow.serialization.encoders import encode_deadline_alert
    from airflow.triggers.callback import CallbackTrigger
except ImportError:  # Airflow 3.1: the alert encodes itself; the triggerer runs a DeadlineCallbackTrigger
    from airflow.triggers.deadline import DeadlineCallbackTrigger as CallbackTrigger

    def encode_deadline_alert(d: DeadlineAlert) -> dict[str, Any]:
        return dict(d.serialize_deadline_alert()["__var"])


from reliable_api.alerting.callbacks import EMAIL_SUBJECT
from reliable_api.alerting.deadline import (
    alert_deadline_missed,
    deadline_alert,
    notifier_from_spec,
    notifier_spec,
)
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.testing.sandbox.server import SandboxServer

RUN = "scheduled__2026-01-02T03:00:00+00:00"
# What the scheduler hands the callback when the deadline passes (Deadline.handle_miss).
MISSED = {
    "dag_run": {"dag_id": "crm_sync", "dag_run_id": RUN, "state": "running"},
    "deadline": {"id": "0193", "deadline_time": "2026-01-02T04:00:00+00:00"},
}


def states(trigger: CallbackTrigger) -> list[str]:
    """The callback states the trigger reports, as the triggerer would receive them."""

    async def run() -> list[str]:
        return [event.payload["state"] async for event in trigger.run()]

    return asyncio.run(run())


def test_the_deadline_alert_is_json_and_starts_from_the_queued_time() -> None:
    alert = deadline_alert(timedelta(hours=1), WebhookNotifier(webhook_conn_id="alerts_hook", format="json"))

    stored = json.loads(json.dumps(encode_deadline_alert(alert)))  # as the serialized DAG keeps it
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.callback.path == "reliable_api.alerting.deadline.alert_deadline_missed"
    assert alert.callback.kwargs["notifiers"] == [
        {
            "class": "reliable_api.notifications.webhook.WebhookNotifier",
            "kwargs": {"webhook_conn_id": "alerts_hook", "format": "json", "settings_overrides": {}},
        }
    ]
    assert stored["callback"]["__data__"]["kwargs"]["notifiers"] == alert.callback.kwargs["notifiers"]


def test_the_callback_called_directly_posts_the_alert(
    sandbox: SandboxServer, webhook: Callable[..., str], base_url: str
) -> None:
    channel = webhook()
    kwargs = deadline_alert(
        timedelta(hours=1), WebhookNotifier(webhook_conn_id="alerts_hook")
    ).callback.kwargs

    assert asyncio.run(alert_deadline_missed(**kwargs, context=MISSED))

    body = sandbox.webhooks(channel)[0]["body"]
    assert body["blocks"][0]["text"]["text"] == "DAG run missed its deadline: crm_sync"
    assert "2026-01-02T04:00:00+00:00" in body["text"]
    links = {button["text"]["text"]: button["url"] for button in body["blocks"][-1]["elements"]}
    assert links["View run"] == f"{base_url}/dags/crm_sync/runs/scheduled__2026-01-02T03%3A00%3A00%2B00%3A00"


def test_the_triggerer_runs_it_from_its_stored_path_and_kwargs(
    sandbox: SandboxServer, webhook: Callable[..., str]
) -> None:
    channel = webhook()
    callback = deadline_alert(
        timedelta(minutes=5), WebhookNotifier(webhook_conn_id="alerts_hook", format="json")
    ).callback
    trigger = CallbackTrigger(callback.path, {**json.loads(json.dumps(callback.kwargs)), "context": MISSED})

    assert states(trigger) == ["running", "success"]
    (delivery,) = sandbox.webhooks(channel)
    assert (delivery["body"]["kind"], delivery["body"]["run_id"]) == ("deadline_missed", RUN)


def test_the_notifier_itself_can_be_the_async_callback_as_airflow_documents(
    sandbox: SandboxServer, webhook: Callable[..., str]
) -> None:
    channel = webhook()
    path = "reliable_api.notifications.webhook.WebhookNotifier"
    trigger = CallbackTrigger(path, {"webhook_conn_id": "alerts_hook", "format": "json", "context": MISSED})

    assert states(trigger) == ["running", "success"]
    assert sandbox.webhooks(channel)[0]["body"]["title"] == "DAG run missed its deadline: crm_sync"


def test_the_smtp_notifier_travels_as_a_spec_and_comes_back_the_same() -> None:
    email = SmtpNotifier(
        to=["oncall@example.com"], from_email="a@example.com", subject=EMAIL_SUBJECT, smtp_conn_id="mail"
    )

    rebuilt = notifier_from_spec(json.loads(json.dumps(notifier_spec(email))))

    assert isinstance(rebuilt, SmtpNotifier)
    assert (rebuilt.to, rebuilt.subject, rebuilt.smtp_conn_id) == (
        ["oncall@example.com"],
        EMAIL_SUBJECT,
        "mail",
    )
