"""Alerting test set-up: a webhook connection to the sandbox's sink, a state DB per test, contexts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reliable_api.testing.sandbox.server import SandboxServer

#: The secret part of the test webhook URL, as the token of a Slack webhook would be.
SECRET = "hook7f3a9cSECRET"
#: Airflow's ``[api] base_url`` in these tests.
BASE_URL = "https://airflow.example.com"


@pytest.fixture
def webhook(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``webhook(conn_id, channel=..., query=..., whole_url=..., **extra)`` makes a connection.

    The connection points at ``/_sandbox/webhook/{channel}{query}``; the path is the password, as
    a Slack webhook's token is (or the whole URL is, with ``whole_url=True``). Returns the channel.
    """

    def make(
        conn_id: str = "alerts_hook",
        *,
        channel: str = SECRET,
        query: str = "",
        whole_url: bool = False,
        **extra: Any,
    ) -> str:
        path = f"/_sandbox/webhook/{channel}{query}"
        conn: dict[str, Any] = {"conn_type": "http", "extra": {"backoff_base": 0.01, **extra}}
        if whole_url:
            conn["password"] = f"{sandbox.url}{path}"
        else:
            conn.update(host=sandbox.url, password=path)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return channel

    return make


@pytest.fixture(autouse=True)
def state_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite state DB behind the default state connection."""
    path = tmp_path / "state.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_RELIABLE_API_STATE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return path


@pytest.fixture(autouse=True)
def base_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """Airflow's ``[api] base_url``, which alerts link to."""
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    return BASE_URL


@pytest.fixture
def task_context() -> Callable[..., dict[str, Any]]:
    """``task_context(exception, try_number=1, **ti)``: a task callback's context, as Airflow passes it."""

    def make(
        exception: BaseException, *, try_number: int = 1, integration: str = "crm_contacts", **ti: Any
    ) -> dict[str, Any]:
        fields = {
            "dag_id": "crm_sync",
            "task_id": "load",
            "run_id": "manual__2026-01-02T03:04:05+00:00",
            **ti,
        }
        instance = SimpleNamespace(try_number=try_number, max_tries=3, map_index=-1, **fields)
        return {
            "ti": instance,
            "task_instance": instance,
            "task": SimpleNamespace(integration=integration),
            "params": {},
            "exception": exception,
        }

    return make
