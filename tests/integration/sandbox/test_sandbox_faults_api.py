"""Seeded faults as a real client sees them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import requests

from reliable_api.testing.sandbox.server import SandboxServer

FAULTY = {"p_500": 0.15, "p_502": 0.1, "p_503": 0.15, "p_malformed": 0.1}
PATHS = [f"/v1/contacts/con_{n:06d}" for n in range(1, 11)]


def outcome(response: httpx.Response) -> str:
    try:
        response.json()
    except json.JSONDecodeError:
        return f"{response.status_code} invalid json"
    return str(response.status_code)


def outcomes(sandbox: SandboxServer, sequence: list[str]) -> list[str]:
    with httpx.Client(base_url=sandbox.url) as client:
        return [outcome(client.get(path)) for path in sequence]


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


def test_same_seed_same_faults_other_seed_other_faults(sandbox: SandboxServer) -> None:
    sequence = PATHS * 8
    sandbox.configure(seed=3, **FAULTY)
    first = outcomes(sandbox, sequence)
    assert {"200", "500", "502 invalid json", "503", "200 invalid json"} <= set(first)
    sandbox.reset()  # keeps the config, forgets how often each request was seen
    assert outcomes(sandbox, sequence) == first
    sandbox.configure(seed=4)
    sandbox.reset()
    assert outcomes(sandbox, sequence) != first
    assert sandbox.stats()["faults_injected"]["500"] > 0


def test_faults_do_not_depend_on_how_concurrent_clients_interleave(sandbox: SandboxServer) -> None:
    sandbox.configure(seed=9, **FAULTY)
    sequential = {path: outcomes(sandbox, [path] * 10) for path in PATHS}
    sandbox.reset()
    concurrent: dict[str, list[str]] = {}
    threads = [
        threading.Thread(target=lambda p=path: concurrent.__setitem__(p, outcomes(sandbox, [p] * 10)))
        for path in PATHS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert concurrent == sequential


def test_reset_is_a_connection_error_for_real_clients(sandbox: SandboxServer) -> None:
    sandbox.configure(p_reset=1.0)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sandbox.url}/v1/contacts")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sandbox.url}/v1/contacts", timeout=10)
    assert sandbox.stats()["faults_injected"] == {"reset": 2}


def test_malformed_is_a_200_with_invalid_json(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(p_malformed=1.0)
    response = api.get("/v1/contacts")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_responses_outlast_a_client_timeout(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(p_slow=1.0, slow_seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/v1/contacts/con_000001", timeout=0.2)


def test_faults_spare_the_sandbox_endpoints(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(p_500=1.0)
    assert api.get("/_sandbox/health").status_code == 200
    assert api.get("/v1/contacts").status_code == 500


def test_fail_lists_are_permanent_until_changed_at_runtime(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(fail_404=["con_000003", "CRM-0000004"], fail_422=["Blocked@Example.com"])
    assert api.get("/v1/contacts/con_000003").status_code == 404
    assert api.get("/v1/contacts/con_000004").status_code == 404  # by its external_id
    assert api.patch("/v1/contacts/con_000003", json={"first_name": "X"}).status_code == 404
    rejected = api.post("/v1/contacts", json={"email": "blocked@example.com"})
    assert rejected.status_code == 422
    assert rejected.json()["error"]["field"] == "email"
    batch = api.post("/v1/contacts/batch", json={"records": [{"email": "blocked@example.com"}]}).json()
    assert batch["results"][0]["status"] == 422

    sandbox.configure(fail_404=[], fail_422=[])
    assert api.get("/v1/contacts/con_000003").status_code == 200
    assert api.post("/v1/contacts", json={"email": "blocked@example.com"}).status_code == 201


def test_fail_lists_from_the_command_line(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(fail_404=["con_000002"], contacts=3, companies=1)
    assert httpx.get(f"{server.url}/v1/contacts/con_000002").status_code == 404
    assert httpx.get(f"{server.url}/v1/contacts/con_000001").status_code == 200
    assert server.configure()["fail_404"] == ["con_000002"]


def test_refused_shares_refuse_the_same_keys_for_good(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(fail_404_share=0.5, fail_422_share=0.5)
    emails = [f"share{n}@example.com" for n in range(20)]
    first = [api.post("/v1/contacts", json={"email": email}).status_code for email in emails]
    assert set(first) == {404, 422}
    again = [api.post("/v1/contacts", json={"email": email.upper()}).status_code for email in emails]
    assert again == first
    batch = api.post("/v1/contacts/batch", json={"records": [{"email": e} for e in emails]}).json()
    assert [result["status"] for result in batch["results"]] == first
    # One draw per record, by its email: another natural key alone is not refused.
    assert api.post("/v1/contacts", json={"external_id": "EXT-1"}).status_code == 201

    sandbox.configure(fail_404_share=0.0, fail_422_share=0.0)
    assert api.post("/v1/contacts", json={"email": emails[0]}).status_code == 201


def test_a_429_starts_a_burst_of_429s_with_retry_after(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(p_429=1.0, burst_429_seconds=0.5)
    started = api.get("/v1/contacts/con_000001")
    assert (started.status_code, started.headers["Retry-After"]) == (429, "1")
    sandbox.configure(p_429=0.0)  # no new burst: the requests below meet the one started
    during = api.get("/v1/contacts/con_000002")
    assert (during.status_code, during.headers["Retry-After"]) == (429, "1")
    time.sleep(float(during.headers["Retry-After"]))  # what a client honouring it does
    assert api.get("/v1/contacts/con_000002").status_code == 200
    stats = sandbox.stats()
    assert stats["faults_injected"] == {"429": 1}  # one burst, counted once
    assert stats["rate_limited"] == 2
    assert stats["retry_after_promises"] == 2
    assert stats["early_requests_after_retry_after"] == 1  # the request sent into the burst on purpose
