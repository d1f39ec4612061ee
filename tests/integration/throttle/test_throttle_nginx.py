"""The hook against nginx ``limit_req`` (Debian's nginx-light): a limiter no one here wrote.

nginx without ``burst`` refuses a request that arrives a millisecond early by its own clock.
These tests check behaviour (no failed call, a quota never exceeded, the quota deferred); the
goodput figures are the benchmark's (``bench/throttle_goodput.py``).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.testing.nginx import NginxServer, Zone, ensure_nginx
from reliable_api.throttle.errors import QuotaExhausted

PATH = "/v1/contacts/con_000001"


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = ensure_nginx(install=False)
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing under CI: .ci/run installs nginx-light")
        pytest.skip("nginx is not installed here (apt-get install -y nginx-light)")
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve(nginx_binary: str) -> Iterator[object]:
    servers: list[NginxServer] = []

    def start(*zones: Zone) -> NginxServer:
        server = NginxServer(zones, path=PATH, port=free_port()).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def hook_for(monkeypatch: pytest.MonkeyPatch, url: str, **extra: object) -> ReliableHttpHook:
    conn_id = f"nginx_{uuid.uuid4().hex[:8]}"
    settings = {"limiter_backend": "memory", **extra}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "reliable_http", "host": url, "extra": settings}),
    )
    return ReliableHttpHook(http_conn_id=conn_id)


def test_at_the_documented_rate_no_call_fails(serve: object, monkeypatch: pytest.MonkeyPatch) -> None:
    nginx = serve(Zone("api", "20r/s"))  # type: ignore[operator]
    hook = hook_for(monkeypatch, nginx.url, rate_limit="20/s")
    for _ in range(40):
        assert hook.run(PATH).ok  # a 429 of the pacing's own is retried at the next slot
    stats = nginx.stats()
    assert stats["responses_2xx"] == 40
    assert hook.counters.rate_limited == stats["rate_limited"]
    assert stats["max_admitted_per_second"] <= 21  # nginx admitted no more than it allows


def test_a_quota_window_is_never_exceeded_and_defers_when_spent(
    serve: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nginx lets 10 through at once (burst 9 + 1), then one per 6 s: a quota of 10 a minute.
    nginx = serve(Zone("quota", "10r/m", burst=9))  # type: ignore[operator]
    hook = hook_for(monkeypatch, nginx.url, rate_limit="50/s, 10/min", defer_after=1)
    for _ in range(10):
        assert hook.run(PATH).ok
    with pytest.raises(QuotaExhausted, match="quota 10/60s"):
        hook.run(PATH)
    stats = nginx.stats()
    assert (stats["responses_2xx"], stats["rate_limited"]) == (10, 0)
