"""The callback factories: dead-letter counts, retries from try N, storms, any notifier."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import DAG
from sqlalchemy import select, update

from reliable_api.alerting.callbacks import (
    EMAIL_HTML,
    EMAIL_SUBJECT,
    on_dag_failure_callback,
    on_dead_letters_callback,
    on_failure_callback,
    on_retry_callback,
    task_alert_callbacks,
)
from reliable_api.alerting.storm import alert_storms
from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import AuthenticationError, RecordRejected
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.state.engine import state_engine
from reliable_api.state.task import TaskIdentity
from reliable_api.testing.sandbox.server import SandboxServer

Context = Callable[..., dict[str, Any]]
RUN = "manual__2026-01-02T03:04:05+00:00"


def json_notifier(webhook: Callable[..., str]) -> tuple[WebhookNotifier, str]:
    channel = webhook()
    return WebhookNotifier(webhook_conn_id="alerts_hook", format="json"), channel


def test_a_failure_alert_counts_the_records_the_run_dead_lettered(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context
) -> None:
    store = DeadLetterStore(state_engine())
    this_run = TaskIdentity(dag_id="crm_sync", task_id="load", run_id=RUN, try_number=1)
    other_run = TaskIdentity(dag_id="crm_sync", task_id="load", run_id="scheduled__earlier", try_number=1)
    for key in ("a@x.io", "b@x.io"):
        store.add("crm_contacts", key, {"email": key}, RecordRejected("bad", status=422), this_run)
    store.add("crm_contacts", "c@x.io", {"email": "c@x.io"}, RecordRejected("bad", status=422), other_run)
    notifier, channel = json_notifier(webhook)

    on_failure_callback(notifier)(task_context(AuthenticationError("refused (HTTP 401)", status=401)))

    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    assert (body["kind"], body["dead_lettered"], body["error_class"], body["error_kind"]) == (
        "task_failure",
        2,
        "AuthenticationError",
        "permanent",
    )
    assert body["dlq_url"].endswith("/reliable-api/dlq?integration=crm_contacts")


def test_a_successful_task_alerts_only_when_it_dead_lettered_records(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context
) -> None:
    notifier, channel = json_notifier(webhook)
    callback = on_dead_letters_callback(notifier)
    callback(task_context(None))  # a success has no exception
    assert sandbox.webhooks(channel) == []

    store = DeadLetterStore(state_engine())
    this_task = TaskIdentity(dag_id="crm_sync", task_id="load", run_id=RUN, try_number=1)
    other_task = TaskIdentity(dag_id="crm_sync", task_id="validate", run_id=RUN, try_number=1)
    for key in ("a@x.io", "b@x.io", "c@x.io"):
        store.add("crm_contacts", key, {"email": key}, RecordRejected("bad", status=422), this_task)
    store.add("crm_contacts", "d@x.io", {"email": "d@x.io"}, RecordRejected("bad", status=422), other_task)
    callback(task_context(None))

    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    assert (body["kind"], body["dead_lettered"], body["task_id"]) == ("records_dead_lettered", 3, "load")
    assert body["title"] == "Records dead-lettered: crm_sync.load"
    assert body["message"].startswith("3 record(s) failed for good")


def test_retries_alert_only_from_try_n(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context
) -> None:
    notifier, channel = json_notifier(webhook)
    callback = on_retry_callback(notifier, from_try=3, storm_window=None)

    for try_number in (1, 2, 3, 4):
        callback(task_context(RuntimeError("flaky"), try_number=try_number))

    alerts = [delivery["body"] for delivery in sandbox.webhooks(channel)]
    assert [(alert["kind"], alert["try_number"]) for alert in alerts] == [
        ("task_retry", 3),
        ("task_retry", 4),
    ]


def test_identical_alerts_are_grouped_and_the_next_one_says_how_many(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context
) -> None:
    notifier, channel = json_notifier(webhook)
    callback = on_failure_callback(notifier, storm_window=timedelta(minutes=10))
    for _ in range(4):
        callback(task_context(RuntimeError("same again")))
    callback(task_context(KeyError("another error class")))
    assert [d["body"]["error_class"] for d in sandbox.webhooks(channel)] == ["RuntimeError", "KeyError"]

    runtime_errors = alert_storms.c.error_class == "RuntimeError"
    with state_engine().begin() as conn:  # the window of RuntimeError ends, as if 11 minutes passed
        started = conn.execute(select(alert_storms.c.window_started_at).where(runtime_errors)).scalar_one()
        earlier = started - timedelta(minutes=11)
        conn.execute(update(alert_storms).where(runtime_errors).values(window_started_at=earlier))
    callback(task_context(RuntimeError("same again")))

    last = sandbox.webhooks(channel)[-1]["body"]
    assert (last["error_class"], last["suppressed"]) == ("RuntimeError", 3)
    assert last["grouping_note"].startswith("3 more identical alerts since ")


def test_a_broken_state_db_costs_the_count_and_grouping_but_not_the_alert(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    task_context: Context,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN_STATE", json.dumps({"conn_type": "ftp", "host": "nowhere"}))
    notifier, channel = json_notifier(webhook)
    callback = on_failure_callback(notifier, state_conn_id="broken_state")

    callback(task_context(RuntimeError("boom")))
    callback(task_context(RuntimeError("boom")))

    assert [d["body"]["dead_lettered"] for d in sandbox.webhooks(channel)] == [None, None]
    assert "Storm grouping unavailable (ConfigurationError): sending the alert" in caplog.text


def test_the_smtp_providers_notifier_gets_the_alert_and_a_failing_one_does_not_stop_the_next(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    task_context: Context,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the SMTP server is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp_conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"retry_limit": 0, "timeout": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DOWN_SMTP", json.dumps(smtp_conn))
    email = SmtpNotifier(
        to="oncall@example.com",
        from_email="airflow@example.com",
        subject=EMAIL_SUBJECT,
        html_content=EMAIL_HTML,
        smtp_conn_id="down_smtp",
    )
    notifier, channel = json_notifier(webhook)

    on_failure_callback(email, notifier)(task_context(RuntimeError("boom <b>")))

    assert email.subject == "[Airflow] Task failed: crm_sync.load (RuntimeError)"  # rendered from the alert
    assert "<pre>boom &lt;b&gt;</pre>" in str(email.html_content)  # escaped
    assert "Notifier SmtpNotifier failed" in caplog.text
    assert len(sandbox.webhooks(channel)) == 1


def test_a_dag_failure_alert_names_the_run_and_the_reason(
    sandbox: SandboxServer, webhook: Callable[..., str], base_url: str
) -> None:
    notifier, channel = json_notifier(webhook)
    dag = DAG(dag_id="crm_sync", schedule=None)

    on_dag_failure_callback(notifier)({"dag": dag, "run_id": RUN, "reason": "task_failure"})

    body = sandbox.webhooks(channel)[0]["body"]
    assert (body["kind"], body["dag_id"], body["task_id"], body["message"]) == (
        "dag_failure",
        "crm_sync",
        None,
        "task_failure",
    )
    assert body["run_url"] == f"{base_url}/dags/crm_sync/runs/manual__2026-01-02T03%3A04%3A05%2B00%3A00"


def test_task_alert_callbacks_cover_failure_retry_and_dead_letters() -> None:
    slack = WebhookNotifier(webhook_conn_id="alerts_hook")
    callbacks = task_alert_callbacks(slack, retry_from_try=3)
    kinds = {name: callback.kind for name, callback in callbacks.items()}
    assert kinds == {
        "on_failure_callback": "task_failure",
        "on_retry_callback": "task_retry",
        "on_success_callback": "records_dead_lettered",
    }
    assert callbacks["on_retry_callback"].from_try == 3
    assert all(callback.notifiers == [slack] for callback in callbacks.values())
