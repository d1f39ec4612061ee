"""The API's own quota count wins: the sandbox reports it as each vendor does, the hook follows."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import requests

from reliable_api.hooks.http import ReliableHttpAsyncHook, ReliableHttpHook
from reliable_api.throttle.errors import QuotaExhausted

PATH = "/v1/contacts/con_000001"


@pytest.mark.parametrize(
    ("style", "rate_limit", "period"),
    [
        ("salesforce", "100/s, 5/d", 86400.0),
        ("hubspot", "100/s, 5/d", 86400.0),
        ("shopify", "100/s, 5/20s", 20.0),
    ],
)
def test_calls_by_another_client_count_against_our_quota(
    make_sandbox: Any, monkeypatch: pytest.MonkeyPatch, style: str, rate_limit: str, period: float
) -> None:
    # The sandbox's window is long whatever the vendor's, so that it cannot roll over mid-test.
    sandbox = make_sandbox(quota=5, quota_period=max(period, 3600), quota_headers=style)
    for _ in range(3):  # another tool of the same account spends 3 of the 5
        assert requests.get(sandbox.url + PATH, timeout=10).ok
    conn_id = f"vendor_{uuid.uuid4().hex[:8]}"
    extra = {"rate_limit": rate_limit, "limiter_backend": "memory", "defer_after": 1}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}),
    )
    hook = ReliableHttpHook(http_conn_id=conn_id)

    hook.run(PATH)  # the 4th call: the answer says 4 of 5 used, and our limiter takes it
    hook.run(PATH)  # the 5th
    with pytest.raises(QuotaExhausted, match="quota 5/"):
        hook.run(PATH)  # by our count alone 2 of 5 are used: the API's count held it back
    stats = sandbox.stats()
    assert (stats["responses_2xx"], stats["rate_limited"]) == (5, 0)


def test_a_spent_sandbox_quota_answers_429_with_the_vendor_header(make_sandbox: Any) -> None:
    sandbox = make_sandbox(quota=2, quota_headers="salesforce")
    answers = [requests.get(sandbox.url + PATH, timeout=10) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    sent = [answer.headers["Sforce-Limit-Info"] for answer in answers]
    assert sent == ["api-usage=1/2", "api-usage=2/2", "api-usage=2/2"]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 86400


def alerting_connection(sandbox: Any, monkeypatch: pytest.MonkeyPatch, rate_limit: str) -> tuple[str, str]:
    """A connection of ``rate_limit`` whose quota alerts go to a sandbox webhook: ``(conn_id, channel)``."""
    channel = f"quota_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_QUOTA_ALERTS",
        json.dumps({"conn_type": "http", "host": sandbox.url, "password": f"/_sandbox/webhook/{channel}"}),
    )
    conn_id = f"alerting_{uuid.uuid4().hex[:8]}"
    extra = {
        "rate_limit": rate_limit,
        "limiter_backend": "memory",
        "defer_after": 1,
        "quota_alert_conn_id": "quota_alerts",
    }
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}),
    )
    return conn_id, channel


def test_a_spent_quota_alerts_once_naming_it_however_many_workers_meet_it(
    make_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox()
    conn_id, channel = alerting_connection(sandbox, monkeypatch, "100/s, 2/h")
    workers = [ReliableHttpHook(http_conn_id=conn_id) for _ in range(3)]  # one shared limit
    workers[0].run(PATH)
    workers[1].run(PATH)
    for worker in workers:
        with pytest.raises(QuotaExhausted):
            worker.run(PATH)
    (delivery,) = sandbox.webhooks(channel)
    alert = delivery["body"]
    assert (alert["kind"], alert["integration"], alert["title"]) == (
        "quota_exhausted",
        conn_id,
        f"Quota spent: {conn_id} (QuotaExhausted)",
    )
    assert "Quota 2/3600s" in alert["message"]
    assert "2 of 2 used" in alert["message"]
    assert "reopens in" in alert["message"]


def test_the_async_hook_charges_a_requests_cost_and_alerts_once_when_a_quota_is_spent(
    make_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox()
    conn_id, channel = alerting_connection(sandbox, monkeypatch, "100/s, 3/h")
    hook = ReliableHttpAsyncHook(http_conn_id=conn_id)

    async def two_bulk_calls() -> int:
        first = await hook.arequest("GET", PATH, cost=2)  # 2 of the hour's 3
        with pytest.raises(QuotaExhausted, match="quota 3/3600s"):
            await hook.arequest("GET", PATH, cost=2)  # needs 2, 1 is left: defer
        with pytest.raises(QuotaExhausted):
            await hook.arequest("GET", PATH, cost=2)  # still spent: no second alert
        return first.status_code

    assert asyncio.run(two_bulk_calls()) == 200
    assert sandbox.stats()["responses_2xx"] == 1
    (delivery,) = sandbox.webhooks(channel)
    assert delivery["body"]["kind"] == "quota_exhausted"
    assert "Quota 3/3600s" in delivery["body"]["message"]
