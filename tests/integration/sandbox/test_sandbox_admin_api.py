"""The /_sandbox endpoints and the SandboxServer that drives them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import httpx
import pytest

from reliable_api.testing.sandbox.config import ConfigError
from reliable_api.testing.sandbox.server import SandboxServer


def test_config_can_be_read_and_changed_at_runtime(sandbox: SandboxServer) -> None:
    config = httpx.get(f"{sandbox.url}/_sandbox/config").json()
    assert config["rate"] == 0
    assert config["fail_404"] == []
    changed = sandbox.configure(rate=5, burst=2, fail_404="con_000001,con_000002", lookup=False)
    assert (changed["rate"], changed["burst"], changed["lookup"]) == (5, 2, False)
    assert changed["fail_404"] == ["con_000001", "con_000002"]


@pytest.mark.parametrize(
    ("changes", "option", "message"),
    [
        ({"rate": -1}, "rate", "rate must be >= 0, got -1"),
        ({"p_502": 3}, "p_502", "p_502 must be between 0 and 1, got 3"),
        ({"retry_after_format": "fortnight"}, "retry_after_format", "retry_after_format must be one of"),
        ({"burst": "many"}, "burst", "burst must be of type int"),
        ({"speed": 1}, "speed", "speed is not a known option"),
    ],
)
def test_invalid_config_changes_are_422_naming_the_option(
    sandbox: SandboxServer, changes: dict[str, object], option: str, message: str
) -> None:
    response = httpx.patch(f"{sandbox.url}/_sandbox/config", json=changes)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_config"
    assert error["option"] == option
    assert error["message"].startswith(message)
    assert httpx.get(f"{sandbox.url}/_sandbox/config").json()["rate"] == 0


def test_reset_clears_counters_and_optionally_data_and_config(sandbox: SandboxServer) -> None:
    created = httpx.post(f"{sandbox.url}/v1/contacts", json={"email": "kept@example.com"}).json()
    sandbox.configure(rate=100)
    sandbox.reset()
    assert sandbox.stats()["requests_total"] == 0
    assert httpx.get(f"{sandbox.url}/v1/contacts/{created['id']}").status_code == 200
    assert sandbox.configure()["rate"] == 100
    sandbox.reset(data=True, config=True)
    assert httpx.get(f"{sandbox.url}/v1/contacts/{created['id']}").status_code == 404
    assert sandbox.configure()["rate"] == 0
    bad = httpx.post(f"{sandbox.url}/_sandbox/reset", json={"data": "yes"})
    assert bad.status_code == 422


def test_stats_count_routes_statuses_and_times(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        client.get("/v1/contacts")
        client.get("/v1/contacts/con_000001")
        client.get("/v1/contacts/nope")
        client.post("/v1/companies", json={"domain": "stats.example.com"})
        client.get("/_sandbox/stats")
    stats = sandbox.stats()
    assert stats["requests_total"] == 4
    assert stats["requests_by_route"] == {
        "GET /v1/contacts": 1,
        "GET /v1/contacts/{id}": 2,
        "POST /v1/companies": 1,
    }
    assert stats["responses_by_status"] == {"200": 2, "201": 1, "404": 1}
    assert (stats["responses_2xx"], stats["responses_4xx"], stats["responses_5xx"]) == (3, 1, 0)
    assert stats["first_request_at"] <= stats["last_request_at"]


def test_webhook_sink_stores_lists_and_clears(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/_sandbox/webhook/alerts"
    assert (
        httpx.post(url, json={"text": "task failed"}, headers={"Authorization": "Bearer s"}).status_code
        == 201
    )
    httpx.post(url, json=["any", "json"], headers={"X-Trace": "t1"})
    httpx.post(f"{sandbox.url}/_sandbox/webhook/other", json=1)
    received = sandbox.webhooks("alerts")
    assert [delivery["body"] for delivery in received] == [{"text": "task failed"}, ["any", "json"]]
    assert "authorization" not in received[0]["headers"]
    assert received[1]["headers"]["x-trace"] == "t1"
    assert received[0]["received_at"] <= received[1]["received_at"]
    assert httpx.post(url, content=b"not json").status_code == 422
    assert httpx.delete(url).status_code == 204
    assert sandbox.webhooks("alerts") == []
    assert len(sandbox.webhooks("other")) == 1
    assert sandbox.stats()["requests_total"] == 0


def test_options_are_checked_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="burst must be >= 1, got 0"):
        SandboxServer(burst=0)


def test_server_stops_its_process_and_frees_its_port(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(contacts=1, companies=1)
    process = server._process
    port = int(server.url.rpartition(":")[2])
    server.stop()
    assert process is not None
    assert process.poll() is not None
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    server.stop()  # a second stop is harmless
    with pytest.raises(RuntimeError, match="not running"):
        server.stats()


PARENT = textwrap.dedent(
    """
    from reliable_api.testing.sandbox.server import SandboxServer
    server = SandboxServer(contacts=1, companies=1).start()
    print(server._process.pid, flush=True)
    input()
    """
)


def test_sandbox_exits_when_its_parent_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()  # no chance to clean up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the orphaned sandbox kept running")
