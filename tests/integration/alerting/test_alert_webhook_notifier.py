"""``WebhookNotifier`` against the sandbox's webhook sink: formats, failures, limits and secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from reliable_api.alerting.alert import Alert, alert_from_context
from reliable_api.exceptions import ServerError
from reliable_api.notifications.payloads import FALLBACK_CHARS, SECTION_CHARS
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.testing.sandbox.server import SandboxServer

Context = Callable[..., dict[str, Any]]


def failure(task_context: Context, **ti: Any) -> dict[str, Any]:
    error = ServerError(
        "the API failed on its side (HTTP 503)",
        status=503,
        method="POST",
        url="https://api.x.io/v1",
        attempts=6,
    )
    return task_context(error, try_number=4, **ti)


def test_slack_format_names_the_failure_and_links_the_run_and_the_dlq(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context, base_url: str
) -> None:
    channel = webhook()
    notifier = WebhookNotifier(webhook_conn_id="alerts_hook")
    notifier(failure(task_context))  # as Airflow calls a notifier given as a callback

    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    assert body["text"].startswith("Task failed: crm_sync.load (ServerError)")
    header, facts, message, actions = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Task failed: crm_sync.load (ServerError)", "emoji": True},
    }
    shown = {
        field["text"].split("\n")[0].strip("*"): field["text"].split("\n")[1] for field in facts["fields"]
    }
    assert shown == {
        "Integration": "crm_contacts",
        "DAG": "crm_sync",
        "Task": "load",
        "Run": "manual__2026-01-02T03:04:05+00:00",
        "Try": "4 of 4",
        "Error": "ServerError · transient",
        "Attempts": "6",
    }
    assert "HTTP 503" in message["text"]["text"]
    links = {button["text"]["text"]: button["url"] for button in actions["elements"]}
    assert links == {
        "View run": f"{base_url}/dags/crm_sync/runs/manual__2026-01-02T03%3A04%3A05%2B00%3A00",
        "Dead letters": f"{base_url}/reliable-api/dlq?integration=crm_contacts",
    }


def test_json_format_posts_the_alert_as_one_object_to_a_whole_url_connection(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context, base_url: str
) -> None:
    channel = webhook("json_hook", whole_url=True)
    context = failure(task_context)
    assert WebhookNotifier(webhook_conn_id="json_hook", format="json").send(
        alert_from_context(context, "task_failure")
    )

    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    assert {
        key: body[key] for key in ("kind", "dag_id", "task_id", "try_number", "error_class", "error_kind")
    } == {
        "kind": "task_failure",
        "dag_id": "crm_sync",
        "task_id": "load",
        "try_number": 4,
        "error_class": "ServerError",
        "error_kind": "transient",
    }
    assert body["run_url"].startswith(f"{base_url}/dags/crm_sync/runs/")
    assert body["title"] == "Task failed: crm_sync.load (ServerError)"


def test_a_receiver_answering_500_is_retried_within_bounds_then_logged(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    task_context: Context,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = webhook(query="?status=500", max_retries=2)
    delivered = WebhookNotifier(webhook_conn_id="alerts_hook").send(
        alert_from_context(failure(task_context), "task_failure")
    )

    assert delivered is False
    assert [delivery["status"] for delivery in sandbox.webhooks(channel)] == [500, 500, 500]
    assert "Alert not delivered to webhook connection 'alerts_hook': ServerError" in caplog.text


def test_a_stalling_receiver_times_out_and_the_notifier_returns(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    task_context: Context,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = webhook(query="?delay=5", max_retries=1)
    notifier = WebhookNotifier(webhook_conn_id="alerts_hook", settings_overrides={"read_timeout": 0.2})
    delivered = notifier.send(alert_from_context(failure(task_context), "task_failure"))

    assert delivered is False
    assert len(sandbox.webhooks(channel)) == 2  # the first try and one retry, each cut off
    assert "NetworkError" in caplog.text


def test_a_missing_connection_is_logged_and_nothing_raises(
    task_context: Context, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = WebhookNotifier(webhook_conn_id="nobody_made_this")
    notifier(failure(task_context))

    assert "the webhook connection 'nobody_made_this' does not exist" in caplog.text


def test_an_oversized_alert_is_trimmed_to_slacks_limits_and_says_so(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    task_context: Context,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = webhook()
    huge = RuntimeError("x" * 100_000)
    WebhookNotifier(webhook_conn_id="alerts_hook")(task_context(huge, task_id="t" * 200))

    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    header, _facts, message, *_rest, note = body["blocks"]
    assert len(header["text"]["text"]) == 150
    assert len(message["text"]["text"]) <= SECTION_CHARS
    assert message["text"]["text"].endswith("… [trimmed]```")
    assert len(body["text"]) <= FALLBACK_CHARS
    assert "trimmed to fit Slack" in note["elements"][0]["text"]
    assert "Alert trimmed to fit Slack's limits (header, message, text)" in caplog.text


def test_the_webhook_secret_never_reaches_logs_or_the_payload(
    sandbox: SandboxServer,
    webhook: Callable[..., str],
    task_context: Context,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = webhook(query="?status=503", max_retries=1)  # retries log the request
    # An error whose message carries a URL with a token: the alert redacts it.
    error = RuntimeError(f"POST {sandbox.url}/hook?token=tok_ABC123 failed")
    WebhookNotifier(webhook_conn_id="alerts_hook")(task_context(error))

    deliveries = sandbox.webhooks(channel)
    assert len(deliveries) == 2
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, json.dumps(deliveries)):
        assert "tok_ABC123" not in text
    for text in (caplog.text, out.out, out.err, json.dumps([d["body"] for d in deliveries])):
        assert channel not in text
    assert "retrying" in caplog.text  # the retry was logged, without the URL's secret path


def test_a_given_alert_in_the_context_is_sent_as_it_is(
    sandbox: SandboxServer, webhook: Callable[..., str]
) -> None:
    channel = webhook()
    alert = Alert(kind="dag_failure", dag_id="crm_sync", run_id="r1", message="task_failure")
    WebhookNotifier(webhook_conn_id="alerts_hook", format="json")({"alert": alert})

    assert sandbox.webhooks(channel)[0]["body"]["title"] == "DAG run failed: crm_sync"


def test_alerts_to_one_webhook_are_paced_at_one_per_second_by_default(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context
) -> None:
    import time

    channel = webhook("paced_hook", channel="paced")
    notifier = WebhookNotifier(webhook_conn_id="paced_hook", format="json")
    alert = alert_from_context(failure(task_context), "task_failure")
    started = time.monotonic()
    assert all(notifier.send(alert) for _ in range(3))
    # three messages take two one-second slots at least (a lower bound: slowness cannot break it)
    assert time.monotonic() - started >= 2.0
    assert len(sandbox.webhooks(channel)) == 3
