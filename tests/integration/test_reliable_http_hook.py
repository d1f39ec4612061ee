"""``ReliableHttpHook`` against the sandbox API on loopback."""

from __future__ import annotations

import json
import time

import pytest

from reliable_api.exceptions import ConfigurationError, NetworkError
from reliable_api.hooks.http import ReliableHttpAsyncHook, ReliableHttpHook
from reliable_api.testing.sandbox.server import SandboxServer

CONN_ID = "sandbox_test"


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> dict[str, object]:
    extra = {
        "rate_limit": "50/s",
        "burst": 2,
        "limiter_backend": "memory",
        "limiter_conn_id": "secret_redis",
        "read_timeout": 7,
        "X-Team": "data-eng",
    }
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return extra


def test_settings_come_from_the_extra(connection: dict[str, object]) -> None:
    hook = ReliableHttpHook(http_conn_id=CONN_ID)
    assert hook.settings.burst == 2
    assert hook.settings.read_timeout == 7.0
    assert str(hook.settings.rate_limit) == "50/1s"


def test_own_settings_never_reach_the_api_as_headers(
    connection: dict[str, object], sandbox: SandboxServer
) -> None:
    hook = ReliableHttpHook(method="POST", http_conn_id=CONN_ID)
    hook.run("/_sandbox/webhook/headers", json={"ping": 1})
    [received] = sandbox.webhooks("headers")
    sent = {name.lower() for name in received["headers"]}
    assert "x-team" in sent  # an ordinary extra key is still a header, as with HttpHook
    for setting in connection:
        if setting != "X-Team":
            assert setting.lower() not in sent
            assert setting.replace("_", "-").lower() not in sent


def test_a_slow_api_hits_the_read_timeout_instead_of_hanging(
    connection: dict[str, object], sandbox: SandboxServer
) -> None:
    sandbox.configure(p_slow=1.0, slow_seconds=5.0)
    hook = ReliableHttpHook(http_conn_id=CONN_ID, settings_overrides={"read_timeout": 0.5, "max_retries": 0})
    started = time.monotonic()
    with pytest.raises(NetworkError, match="ReadTimeout"):
        hook.run("/v1/contacts", data={"per_page": 1})
    assert time.monotonic() - started < 4.0


def test_invalid_setting_is_a_configuration_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer
) -> None:
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": {"burst": "many"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    with pytest.raises(ConfigurationError, match="burst must be an integer, got 'many'"):
        ReliableHttpHook(http_conn_id=CONN_ID).run("/v1/contacts")


def test_the_async_hook_follows_the_same_rules(connection: dict[str, object], sandbox: SandboxServer) -> None:
    import asyncio

    sandbox.configure(p_503=0.5, seed=7)
    hook = ReliableHttpAsyncHook(http_conn_id=CONN_ID, settings_overrides={"backoff_base": 0.01})

    async def fetch_all() -> list[int]:
        return [(await hook.arequest("GET", f"/v1/contacts/con_00000{i}")).status_code for i in range(1, 6)]

    assert asyncio.run(fetch_all()) == [200] * 5
    counters = hook.async_counters
    assert counters.retries > 0  # some 503s were retried, none reached the caller
    assert counters.requests == 5 + counters.retries
    assert sandbox.stats()["responses_5xx"] == counters.retries
