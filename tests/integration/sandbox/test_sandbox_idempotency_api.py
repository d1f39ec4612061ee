"""Idempotency-Key on creates and batches, against the running sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from reliable_api.testing.sandbox.server import SandboxServer


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll the server instead of sleeping a fixed time, which is racy on a busy machine."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def create(api: httpx.Client, key: str, **fields: object) -> httpx.Response:
    return api.post("/v1/contacts", json=fields, headers={"Idempotency-Key": key})


def test_same_key_same_payload_replays_the_first_response(sandbox: SandboxServer, api: httpx.Client) -> None:
    first = create(api, "key-1", email="once@example.com", first_name="Once")
    replay = create(api, "key-1", first_name="Once", email="once@example.com")  # other key order
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    stats = sandbox.stats()
    assert stats["creates_by_key"] == {"contacts:once@example.com": 1}
    assert stats["idempotent_replays"] == 1


def test_same_key_other_payload_is_422(api: httpx.Client) -> None:
    create(api, "key-2", email="a@example.com")
    reused = create(api, "key-2", email="b@example.com")
    assert reused.status_code == 422
    assert reused.json()["error"]["type"] == "idempotency_key_reused"


def test_same_key_while_the_first_is_in_flight_is_409(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(p_slow=1.0, slow_seconds=1.5)
    first: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: first.append(create(api, "key-3", email="slow@example.com")))
    thread.start()
    wait_until(lambda: "slow" in sandbox.stats()["faults_injected"], "the first request is held")
    sandbox.configure(p_slow=0.0)
    concurrent = create(api, "key-3", email="slow@example.com")
    thread.join()
    assert concurrent.status_code == 409
    assert concurrent.json()["error"]["type"] == "idempotency_key_in_use"
    assert first[0].status_code == 201
    after = create(api, "key-3", email="slow@example.com")
    assert after.headers["Idempotent-Replayed"] == "true"
    assert after.json() == first[0].json()
    assert sandbox.stats()["creates_total"] == 1


def test_a_client_timeout_then_a_retry_with_the_key_creates_once(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    sandbox.configure(p_slow=1.0, slow_seconds=0.8)
    with pytest.raises(httpx.ReadTimeout):
        api.post(
            "/v1/contacts", json={"email": "t@example.com"}, headers={"Idempotency-Key": "k4"}, timeout=0.2
        )
    wait_until(lambda: "slow" in sandbox.stats()["faults_injected"], "the request is held")
    sandbox.configure(p_slow=0.0)
    # The server completes the request after the client gave up on it.
    wait_until(lambda: sandbox.stats()["creates_total"] == 1, "the held request completes")
    retry = create(api, "k4", email="t@example.com")
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert sandbox.stats()["creates_by_key"] == {"contacts:t@example.com": 1}


def test_failed_first_attempt_frees_the_key(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(fail_422=["fixme@example.com"])
    assert create(api, "k5", email="fixme@example.com").status_code == 422
    sandbox.configure(fail_422=[])
    assert create(api, "k5", email="fixme@example.com").status_code == 201


def test_batches_replay_too(sandbox: SandboxServer, api: httpx.Client) -> None:
    body = {"records": [{"email": "b1@example.com"}, {"email": "b2@example.com"}]}
    first = api.post("/v1/contacts/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    replay = api.post("/v1/contacts/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == replay.status_code == 207
    assert replay.content == first.content
    assert sandbox.stats()["creates_total"] == 2


def test_without_idempotency_support_the_key_is_ignored(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(idempotency=False, allow_duplicates=True)
    ids = {create(api, "same-key", email="dup@example.com").json()["id"] for _ in range(2)}
    assert len(ids) == 2
    stats = sandbox.stats()
    assert stats["creates_by_key"] == {"contacts:dup@example.com": 2}
    assert stats["duplicate_creates"] == 1
    assert stats["idempotent_replays"] == 0
