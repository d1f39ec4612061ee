"""Vendor quota headers, per-key limit fields, and 429s retried at the limiter's next slot."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from reliable_api.exceptions import ConfigurationError, ServerError
from reliable_api.http.client import ReliableClient
from reliable_api.http.limiting import build_limiter, request_limit_key
from reliable_api.http.quota_headers import (
    QUOTA_PARSERS,
    QuotaReport,
    parse_quota_headers,
    register_quota_parser,
)
from reliable_api.http.settings import HttpSettings
from reliable_api.throttle.memory import MemoryBackend
from tests.unit.throttle.fakes import FakeClock
from tests.unit.throttle.fakes import clock as clock

BASE = "https://api.example.com/v1/"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Sforce-Limit-Info": "api-usage=18/15000"}, QuotaReport(18, 15000, 86400.0, "salesforce")),
        ({"X-Shopify-Shop-Api-Call-Limit": "32/40"}, QuotaReport(32, 40, 20.0, "shopify")),
        (
            {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "249000"},
            QuotaReport(1000, 250000, 86400.0, "hubspot"),
        ),
        (
            {"RateLimit-Policy": '"day";q=1000;w=86400', "RateLimit": '"day";r=400;t=3600'},
            QuotaReport(600, 1000, 86400.0, "ratelimit"),
        ),
        (
            {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4990", "X-RateLimit-Window": "3600"},
            None,  # X-RateLimit-* names no window unless the API's policy header does
        ),
    ],
)
def test_each_vendors_header_reads_as_a_quota_report(
    headers: dict[str, str], expected: QuotaReport | None
) -> None:
    reports = list(parse_quota_headers(headers))
    assert reports == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"Sforce-Limit-Info": "api-usage=lots"}, "Sforce-Limit-Info: expected '<used>/<limit>'"),
        ({"Sforce-Limit-Info": "per-app-api-usage=1/2"}, "no api-usage"),
        ({"X-Shopify-Shop-Api-Call-Limit": "32/0"}, "X-Shopify-Shop-Api-Call-Limit"),
        (
            {"X-HubSpot-RateLimit-Daily": "many", "X-HubSpot-RateLimit-Daily-Remaining": "1"},
            "X-HubSpot-RateLimit-Daily: expected whole numbers",
        ),
    ],
)
def test_an_unreadable_header_is_an_error_that_names_it(headers: dict[str, str], match: str) -> None:
    (error,) = parse_quota_headers(headers)
    assert isinstance(error, ValueError)
    assert match in str(error)


def test_a_registered_parser_is_offered_every_response() -> None:
    def custom(headers: Any) -> QuotaReport | None:
        value = headers.get("x-credits-used")
        return None if value is None else QuotaReport(int(value), 500, 3600.0, "custom")

    register_quota_parser("custom", custom)
    try:
        assert list(parse_quota_headers({"X-Credits-Used": "7"})) == [QuotaReport(7, 500, 3600.0, "custom")]
    finally:
        del QUOTA_PARSERS["custom"]


@pytest.mark.parametrize(
    ("field", "request_parts", "expected"),
    [
        ("json.channel", {"endpoint": "chat.postMessage", "json": {"channel": "C01"}}, "C01"),
        ("params.tenant", {"endpoint": "records", "params": {"tenant": 42}}, "42"),
        ("path.1", {"endpoint": "/tenants/acme/records?x=1"}, "acme"),
    ],
)
def test_the_limit_key_comes_from_the_request(
    field: str, request_parts: dict[str, Any], expected: str
) -> None:
    parts = {"params": None, "json": None, **request_parts}
    assert request_limit_key(field, **parts) == expected


@pytest.mark.parametrize(
    ("field", "match"),
    [
        ("channel", "limit_key_field must look like 'json.channel'"),
        (
            "json.channel",
            "limit_key_field 'json.channel': the request to 'chat.postMessage' has no such value",
        ),
        ("path.5", "has no such value"),
    ],
)
def test_a_missing_or_malformed_key_field_is_named(field: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        request_limit_key(field, endpoint="chat.postMessage", params=None, json={"text": "hi"})


class ScriptedTransport(BaseAdapter):
    """A requests transport that answers from a script and records what was sent."""

    def __init__(self, *answers: tuple[int, dict[str, str]]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        status, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url or "", request
        response.headers.update(headers)
        response.raw = io.BytesIO(b"{}")  # a body to stream, as urllib3's would be
        return response

    def close(self) -> None:
        """Nothing to release."""


def client_for(extra: dict[str, Any], clock: FakeClock, transport: ScriptedTransport) -> ReliableClient:
    settings = HttpSettings.from_extra(extra)
    limiter = build_limiter(settings, MemoryBackend(now=clock), "conn:default")
    assert limiter is not None
    limiter._sleep = clock.sleep  # the fake clock's sleep, as the limiter's tests pass
    session = requests.Session()
    session.mount("https://", transport)
    # rng: a backoff would take 99% of its ceiling, so that no backoff can pass for a slot
    return ReliableClient(
        session, BASE, settings, limiter=limiter, sleep=clock.sleep, clock=clock, rng=lambda: 0.99
    )


def test_a_429_without_retry_after_is_retried_at_the_next_slot_not_after_a_backoff(clock: FakeClock) -> None:
    client = client_for({"rate_limit": "20/s"}, clock, ScriptedTransport((429, {}), (200, {})))
    assert client.request("GET", "items").status_code == 200
    # no backoff (0.5 s here): the retry waits for the limiter's next slot, and the guard holds
    # it one interval (widened by the 429, the pacing's own) after the refused request was sent
    assert sum(clock.sleeps) == pytest.approx(0.051 * 1.02 * 0.99)
    assert (client.counters.rate_limited, client.counters.retries) == (1, 1)


def test_429s_under_a_limiter_are_bounded_by_the_deadline_not_max_retries(clock: FakeClock) -> None:
    answers = [(429, {})] * 7 + [(200, {})]
    client = client_for({"rate_limit": "20/s", "max_retries": 2}, clock, ScriptedTransport(*answers))
    assert client.request("GET", "items").status_code == 200
    assert (client.counters.rate_limited, client.counters.retries) == (7, 7)


def test_a_5xx_under_a_limiter_still_counts_against_max_retries(clock: FakeClock) -> None:
    answers = [(503, {})] * 4 + [(200, {})]
    client = client_for({"rate_limit": "20/s", "max_retries": 2}, clock, ScriptedTransport(*answers))
    with pytest.raises(ServerError):
        client.request("GET", "items")
    assert client.counters.requests == 3


def test_vendor_headers_set_the_shared_quota_and_a_bad_one_is_logged_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = ScriptedTransport(
        (200, {"Sforce-Limit-Info": "api-usage=14998/15000"}),
        (200, {"Sforce-Limit-Info": "api-usage=garbled"}),
    )
    client = client_for({"rate_limit": "25/s, 15000/d"}, clock, transport)
    with caplog.at_level(logging.WARNING):
        client.request("GET", "a")
        client.request("GET", "b")
        client.request("GET", "b")
    assert client.limiter is not None
    assert client.limiter.usage()[1].used == pytest.approx(14998, abs=2)
    assert sum("unreadable quota header" in record.getMessage() for record in caplog.records) == 1


def test_a_spent_quota_is_deferred_time_not_a_sleep(clock: FakeClock) -> None:
    transport = ScriptedTransport((200, {"Sforce-Limit-Info": "api-usage=15000/15000"}))
    # rolling: one unit leaks out every 5.9 s, longer than defer_after
    client = client_for({"rate_limit": "25/s, 15000/d", "defer_after": 1}, clock, transport)
    client.request("GET", "a")
    clock.sleeps.clear()
    with pytest.raises(Exception, match="quota 15000/86400s") as raised:
        client.request("GET", "a")
    assert type(raised.value).__name__ == "QuotaExhausted"
    assert clock.sleeps == []
    assert client.counters.deferred_seconds == pytest.approx(86400 / 15000 * 1.02, rel=0.01)


def test_per_key_limits_count_each_channel_apart(clock: FakeClock) -> None:
    transport = ScriptedTransport((200, {}))
    client = client_for({"rate_limit": "1/s", "limit_key_field": "json.channel"}, clock, transport)
    for channel in ("C01", "C02", "C01"):
        client.request("POST", "chat.postMessage", json={"channel": channel})
    assert clock.sleeps == pytest.approx([1.02])  # only the second message to C01 waited
    sent = [json.loads(request.body or b"{}")["channel"] for request in transport.sent]
    assert sent == ["C01", "C02", "C01"]


def test_the_counters_keep_the_scarcest_quota_the_api_reported_for_run_metrics(clock: FakeClock) -> None:
    transport = ScriptedTransport(
        (200, {}),
        (200, {"Sforce-Limit-Info": "api-usage=14000/15000"}),
        (200, {"X-Shopify-Shop-Api-Call-Limit": "10/40"}),  # 75% left: the daily 6.7% is scarcer
    )
    client = client_for({"rate_limit": "25/s, 15000/d"}, clock, transport)
    client.request("GET", "a")
    assert "quota_remaining" not in client.counters.as_dict()  # nothing reported yet
    client.request("GET", "b")
    client.request("GET", "c")
    counts = client.counters.as_dict()
    assert (counts["quota_remaining"], counts["quota_limit"]) == (1000, 15000)
