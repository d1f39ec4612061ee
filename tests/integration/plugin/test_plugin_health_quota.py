"""The health page's rate limits: each window of a reliable_http connection, read from its backend.

Requests go through ``ReliableHttpHook`` to the sandbox, so the limiter backend (SQLite, or Redis
when it is up) holds real reservations; the page is read through the plugin's app as Airflow mounts it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.testing.sandbox.server import SandboxServer
from tests.integration.plugin.conftest import browser

#: A per-second pace and a quota of 40 an hour (rolling: a burst of its whole count).
RATE_LIMIT = "50/s, 40/h"
QUOTA = "40/3600s"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def limited_conn(
    request: pytest.FixtureRequest, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A reliable_http connection to the sandbox with ``RATE_LIMIT`` on a real shared backend."""
    conn_id = f"quota_page_{uuid.uuid4().hex[:10]}"
    extra: dict[str, Any] = {"rate_limit": RATE_LIMIT, "limiter_backend": request.param}
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        monkeypatch.setenv("AIRFLOW_CONN_QUOTA_PAGE_REDIS", redis_url)
        extra["limiter_conn_id"] = "quota_page_redis"
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    yield conn_id
    if request.param == "redis":
        import redis

        from reliable_api.throttle.redis import DEFAULT_PREFIX

        client = redis.Redis.from_url(redis_url)
        try:
            client.delete(f"{DEFAULT_PREFIX}{conn_id}:default")
        finally:
            client.close()


def spend(conn_id: str, requests: int) -> None:
    hook = ReliableHttpHook(http_conn_id=conn_id)
    for _ in range(requests):
        hook.run("/v1/contacts", data={"per_page": 1})


def quota_of(body: dict[str, Any], conn_id: str) -> dict[str, Any]:
    [limit] = [item for item in body["rate_limits"] if item["conn_id"] == conn_id]
    assert limit["unknown"] is None
    [window] = [w for w in limit["windows"] if w["window"] == QUOTA]
    return dict(window)


def quota_row(html: str, conn_id: str) -> str:
    found = re.search(rf'<tr data-limit="{conn_id}" data-window="{re.escape(QUOTA)}">(.*?)</tr>', html)
    assert found, f"no row of {QUOTA} for {conn_id} in the page"
    return found.group(1)


def test_the_page_shows_each_window_used_and_when_it_runs_out(
    airflow_app: Any, auth_manager: Any, state_db: Engine, limited_conn: str
) -> None:
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    spend(limited_conn, 10)

    first = client.get("/reliable-api/api/health")
    assert first.status_code == 200
    quota = quota_of(first.json(), limited_conn)
    assert quota["capacity"] == 40
    assert quota["used"] == pytest.approx(10, abs=1)  # 40/h leaks 0.011 units a second
    assert 0 < quota["resets_in_s"] <= 3600
    assert quota["runs_out_in_s"] is None  # a rolling window's pace needs a second reading
    assert "from the next view" in quota["outlook"]

    spend(limited_conn, 10)
    time.sleep(1.1)  # the pace is measured between views at least a second apart
    page = client.get("/reliable-api/health")
    assert page.status_code == 200
    row = quota_row(page.text, limited_conn)
    assert re.search(r"<td class=\"num\">(1[89]\.\d|20) / 40</td>", row), row
    assert re.search(r"<td>in \d+ (s|min) at [\d.]+/s</td>", row), row

    quota = quota_of(client.get("/reliable-api/api/health").json(), limited_conn)
    assert quota["used"] == pytest.approx(20, abs=1)
    leak = 40 / 3600
    # Ten units between views; the page's pace counts them over the time between its readings.
    assert quota["pace_per_s"] > leak
    assert quota["runs_out_in_s"] == pytest.approx(
        (40 - quota["used"]) / (quota["pace_per_s"] - leak), rel=0.05
    )


def test_showing_the_page_takes_no_slot(
    airflow_app: Any, auth_manager: Any, state_db: Engine, limited_conn: str
) -> None:
    spend(limited_conn, 3)
    limiter = ReliableHttpHook(http_conn_id=limited_conn).limiter
    assert limiter is not None
    before, _ = limiter.backend.state(limiter.key)
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    for path in ("/reliable-api/health", "/reliable-api/api/health") * 2:
        assert client.get(path).status_code == 200
    after, _ = limiter.backend.state(limiter.key)
    assert after == before
    assert before.tats  # the state read is the one the requests wrote


def test_an_unreachable_backend_is_said_in_its_row(
    airflow_app: Any,
    auth_manager: Any,
    state_db: Engine,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = {"rate_limit": RATE_LIMIT, "limiter_backend": "redis", "limiter_conn_id": "quota_page_gone"}
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QUOTA_PAGE_DOWN", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_QUOTA_PAGE_GONE", "redis://127.0.0.1:1/0")  # nothing listens
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    page = client.get("/reliable-api/health")
    assert page.status_code == 200
    assert re.search(r'<tr data-limit="quota_page_down">.*unknown: redis unreachable', page.text)
    body = client.get("/reliable-api/api/health")
    assert body.status_code == 200
    [limit] = [item for item in body.json()["rate_limits"] if item["conn_id"] == "quota_page_down"]
    assert limit["unknown"].startswith("unknown: redis unreachable")
    assert limit["windows"] == []


def test_the_outlook_of_a_calendar_day_and_of_a_slow_pace() -> None:
    from reliable_api.monitoring.health_limits import Readings
    from reliable_api.throttle.base import Window, WindowUsage

    day = Window(count=1000, period=86400, burst=1000, calendar_offset=0.0)
    hour = Window(count=40, period=3600, burst=40)
    noon = 86400 * 20000 + 43200.0  # 12 h into a UTC day: 400 used is 800 by midnight
    readings = Readings()
    [calm] = readings.windows("k", [day], [WindowUsage(day, 400, 1000, 43200)], noon)
    assert calm.pace == pytest.approx(400 / 43200)
    assert calm.runs_out_in is None
    assert calm.outlook == "not at this pace"
    [busy] = readings.windows("k2", [day], [WindowUsage(day, 600, 1000, 43200)], noon)
    assert busy.runs_out_in == pytest.approx(400 / (600 / 43200))  # before midnight
    assert busy.outlook.startswith("in 8.0 h")

    # A rolling hour leaks 40 an hour (0.67 a minute): half a unit a minute never fills it, 5 do.
    readings.windows("r", [hour], [WindowUsage(hour, 10, 40, 900)], noon)
    [slow] = readings.windows("r", [hour], [WindowUsage(hour, 10 - 60 * 40 / 3600 + 0.5, 40, 900)], noon + 60)
    assert slow.pace == pytest.approx(0.5 / 60)
    assert slow.outlook == "not at this pace"
    used = slow.used - 60 * 40 / 3600 + 5
    [fast] = readings.windows("r", [hour], [WindowUsage(hour, used, 40, 900)], noon + 120)
    assert fast.pace == pytest.approx(5 / 60)
    assert fast.runs_out_in == pytest.approx((40 - used) / (5 / 60 - 40 / 3600))


def test_a_memory_limit_is_not_shown_as_empty(
    airflow_app: Any,
    auth_manager: Any,
    state_db: Engine,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = {"rate_limit": "5/s", "limiter_backend": "memory"}
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QUOTA_PAGE_MEMORY", json.dumps(conn))
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    body = client.get("/reliable-api/api/health").json()
    [limit] = [item for item in body["rate_limits"] if item["conn_id"] == "quota_page_memory"]
    assert limit["unknown"] == "unknown: a memory limit lives in each worker"
