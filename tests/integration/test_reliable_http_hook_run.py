"""``ReliableHttpHook.run`` takes what ``HttpHook.run`` takes, and every call passes the adapter."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import tenacity

from reliable_api.exceptions import NetworkError, RecordRejected
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.testing.sandbox.server import SandboxServer


@pytest.fixture
def conn_id(monkeypatch: pytest.MonkeyPatch, reliable_api_sandbox: SandboxServer) -> str:
    name = f"run_{uuid.uuid4().hex[:8]}"
    extra = {"rate_limit": "50/s", "limiter_backend": "memory", "read_timeout": 7, "max_retries": 1}
    conn = {"conn_type": "reliable_http", "host": reliable_api_sandbox.url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))
    return name


def test_every_call_is_counted_and_a_get_sends_data_as_its_query(conn_id: str) -> None:
    hook = ReliableHttpHook(method="GET", http_conn_id=conn_id)
    response = hook.run("/v1/contacts", data={"per_page": 3})
    assert len(response.json()["data"]) == 3
    hook.run_with_advanced_retry({"stop": tenacity.stop_after_attempt(1)}, "/v1/contacts")
    assert hook.counters.requests == 2


def test_request_kwargs_and_headers_go_with_the_request(
    conn_id: str, reliable_api_sandbox: SandboxServer
) -> None:
    channel = f"run_{uuid.uuid4().hex[:8]}"
    hook = ReliableHttpHook(method="POST", http_conn_id=conn_id)
    hook.run(f"/_sandbox/webhook/{channel}", headers={"X-Trace": "t-1"}, json={"ping": 1})
    [received] = reliable_api_sandbox.webhooks(channel)
    assert received["body"] == {"ping": 1}
    assert {name.lower(): value for name, value in received["headers"].items()}["x-trace"] == "t-1"


def test_check_response_false_returns_the_error_answer_instead_of_raising(conn_id: str) -> None:
    hook = ReliableHttpHook(method="GET", http_conn_id=conn_id)
    with pytest.raises(RecordRejected):
        hook.run("/v1/contacts/con_999999")
    response = hook.run("/v1/contacts/con_999999", extra_options={"check_response": False})
    assert response.status_code == 404
    with pytest.raises(RecordRejected):  # the option holds for that call only
        hook.run("/v1/contacts/con_999999")


def test_a_timeout_in_extra_options_replaces_the_connections(
    conn_id: str, reliable_api_sandbox: SandboxServer
) -> None:
    reliable_api_sandbox.configure(p_slow=1.0, slow_seconds=5.0)
    hook = ReliableHttpHook(method="GET", http_conn_id=conn_id, settings_overrides={"max_retries": 0})
    started = time.monotonic()
    with pytest.raises(NetworkError, match="ReadTimeout"):
        hook.run("/v1/contacts", extra_options={"timeout": 0.5})
    assert time.monotonic() - started < 4.0  # the connection's read_timeout is 7 s


def test_a_per_key_limit_reads_the_key_from_the_json_body(
    monkeypatch: pytest.MonkeyPatch, reliable_api_sandbox: SandboxServer
) -> None:
    from reliable_api.exceptions import ConfigurationError

    name = f"keyed_{uuid.uuid4().hex[:8]}"
    extra = {"rate_limit": "50/s", "limiter_backend": "memory", "limit_key_field": "json.channel"}
    conn = {"conn_type": "reliable_http", "host": reliable_api_sandbox.url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))
    hook = ReliableHttpHook(method="POST", http_conn_id=name)
    hook.run("/_sandbox/webhook/keyed", json={"channel": "C1", "text": "hi"})
    with pytest.raises(ConfigurationError, match=r"limit_key_field 'json\.channel'"):
        hook.run("/_sandbox/webhook/keyed", json={"text": "no channel"})
    assert len(reliable_api_sandbox.webhooks("keyed")) == 1  # the one without a key was never sent


def test_the_trigger_answers_like_http_trigger_under_the_connections_rules(conn_id: str) -> None:
    import asyncio

    from airflow.providers.http.triggers.http import HttpResponseSerializer

    from reliable_api.triggers.http import ReliableHttpTrigger

    async def events(trigger: ReliableHttpTrigger) -> list[dict[str, object]]:
        return [event.payload async for event in trigger.run()]

    trigger = ReliableHttpTrigger(
        http_conn_id=conn_id, method="GET", endpoint="/v1/contacts", data={"per_page": 2}
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "reliable_api.triggers.http.ReliableHttpTrigger"
    [ok] = asyncio.run(events(ReliableHttpTrigger(**kwargs)))
    assert ok["status"] == "success"
    response = HttpResponseSerializer.deserialize(ok["response"])  # type: ignore[arg-type]
    assert len(response.json()["data"]) == 2
    [missing] = asyncio.run(
        events(ReliableHttpTrigger(http_conn_id=conn_id, method="GET", endpoint="/v1/contacts/con_999999"))
    )
    assert missing["status"] == "error"
    assert str(missing["message"]).startswith("RecordRejected: ")
