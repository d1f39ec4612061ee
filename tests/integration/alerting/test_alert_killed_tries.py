"""A try killed without a word is alerted by the next one: Airflow runs no callback for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from reliable_api.alerting.callbacks import on_retry_callback
from reliable_api.alerting.killed_tries import TryVanished, alert_unrecorded_previous_try
from reliable_api.exceptions import ServerError
from reliable_api.notifications.webhook import WebhookNotifier
from reliable_api.state.engine import state_engine
from reliable_api.state.metrics import record_run
from reliable_api.state.task import TaskIdentity
from reliable_api.testing.sandbox.server import SandboxServer

Context = Callable[..., dict[str, Any]]
RUN = "manual__2026-01-02T03:04:05+00:00"


def recorded(try_number: int, outcome: str = "failed") -> None:
    task = TaskIdentity(dag_id="crm_sync", task_id="load", run_id=RUN, try_number=try_number)
    now = datetime.now(timezone.utc)
    record_run(state_engine(), "crm_contacts", task, started_at=now, counts={}, outcome=outcome)


def test_a_try_that_left_no_record_is_alerted_as_the_try_it_was(
    sandbox: SandboxServer, webhook: Callable[..., str], task_context: Context
) -> None:
    channel = webhook()
    callback = on_retry_callback(WebhookNotifier(webhook_conn_id="alerts_hook", format="json"), from_try=1)
    recorded(1, "failed")  # try 1 failed and said so; try 2 was killed; try 3 starts now

    assert alert_unrecorded_previous_try(task_context(ServerError("unrelated"), try_number=3), callback)

    (delivery,) = sandbox.webhooks(channel)
    body = delivery["body"]
    assert (body["kind"], body["try_number"], body["run_id"], body["task_id"]) == (
        "task_retry",
        2,
        RUN,
        "load",
    )
    assert body["error_class"] == "TryVanished"
    assert "killed" in body["message"]


@pytest.mark.parametrize(
    ("try_number", "rows"),
    [(1, []), (2, [1]), (2, [2]), (3, [2])],
    ids=["first-try", "previous-recorded", "resumed-after-deferral", "previous-recorded-later-try"],
)
def test_no_alert_when_the_try_before_reported_or_there_is_none(
    task_context: Context, try_number: int, rows: list[int]
) -> None:
    for number in rows:
        recorded(number, "deferred" if number == try_number else "failed")
    calls: list[dict[str, Any]] = []

    assert not alert_unrecorded_previous_try(
        task_context(ServerError("x"), try_number=try_number), calls.append
    )
    assert calls == []


def test_every_retry_callback_runs_even_when_one_fails(task_context: Context) -> None:
    seen: list[Any] = []

    def broken(context: dict[str, Any]) -> None:
        raise RuntimeError("a notifier that is down")

    assert alert_unrecorded_previous_try(task_context(ServerError("x"), try_number=2), [broken, seen.append])
    (context,) = seen
    assert context["ti"].try_number == 1
    assert context["ti"].dag_id == "crm_sync"  # everything else is the running try's
    assert isinstance(context["exception"], TryVanished)


def test_no_state_db_no_guess(task_context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RELIABLE_API_STATE", '{"conn_type": "postgres", "host": "127.0.0.1", "port": 1}'
    )
    calls: list[dict[str, Any]] = []

    assert not alert_unrecorded_previous_try(task_context(ServerError("x"), try_number=2), calls.append)
    assert calls == []
