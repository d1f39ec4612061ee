"""The sandbox's lost answers and its switch for Idempotency-Key support, as a plain client sees them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from reliable_api.testing.sandbox.server import SandboxServer

Make = Callable[..., SandboxServer]
RECORD = {"email": "lost@example.com", "first_name": "Lost"}


def search(client: httpx.Client) -> list[str]:
    found = client.get("/v1/contacts/search", params={"email": RECORD["email"]})
    return [record["id"] for record in found.json()["data"]]


def test_a_lost_502_answers_after_the_create_committed(make_sandbox: Make) -> None:
    sandbox = make_sandbox(contacts=0, p_lost_502=1.0)
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        response = client.post("/v1/contacts", json=RECORD)
        assert response.status_code == 502
        sandbox.configure(p_lost_502=0.0)
        assert len(search(client)) == 1
    stats = sandbox.stats()
    assert stats["faults_injected"] == {"lost_502": 1}
    assert stats["creates_by_key"] == {"contacts:lost@example.com": 1}


def test_a_stalled_answer_outlives_the_read_timeout_after_the_create(make_sandbox: Make) -> None:
    sandbox = make_sandbox(contacts=0, p_lost_stall=1.0, slow_seconds=2.0)
    with httpx.Client(base_url=sandbox.url, timeout=httpx.Timeout(10, read=0.3)) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/contacts", json=RECORD)
        sandbox.configure(p_lost_stall=0.0)
        assert len(search(client)) == 1


def test_with_keys_the_retry_of_a_lost_answer_is_replayed(make_sandbox: Make) -> None:
    sandbox = make_sandbox(contacts=0, p_lost_502=1.0)
    headers = {"Idempotency-Key": "k-1"}
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        assert client.post("/v1/contacts", json=RECORD, headers=headers).status_code == 502
        sandbox.configure(p_lost_502=0.0)
        again = client.post("/v1/contacts", json=RECORD, headers=headers)
        assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert sandbox.stats()["creates_total"] == 1


def test_with_keys_switched_off_the_header_is_ignored(make_sandbox: Make) -> None:
    sandbox = make_sandbox(contacts=0, idempotency=False, allow_duplicates=True)
    headers = {"Idempotency-Key": "k-1"}
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        first, second = (client.post("/v1/contacts", json=RECORD, headers=headers) for _ in range(2))
        assert (first.status_code, second.status_code) == (201, 201)
        assert first.json()["id"] != second.json()["id"]
    assert sandbox.stats()["creates_by_key"] == {"contacts:lost@example.com": 2}
