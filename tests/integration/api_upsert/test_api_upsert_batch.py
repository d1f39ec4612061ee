"""Batch creates against the sandbox: once per record, per-record failures, retries, re-runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from api_upsert_worker import INTEGRATION, build, connection_env, contacts, resource
from sqlalchemy import select

from reliable_api.exceptions import NetworkError, ServerError
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import dead_letters
from reliable_api.testing.sandbox.server import SandboxServer

Start = Callable[..., SandboxServer]
BATCH_ROUTE = "POST /v1/contacts/batch"


@pytest.fixture
def start(make_sandbox: Start, monkeypatch: pytest.MonkeyPatch) -> Callable[..., SandboxServer]:
    """Start a sandbox (empty, duplicates allowed unless told) and point the connection at it.

    Options named ``conn_*`` go to the connection's extra (without the prefix).
    """

    def starter(**options: Any) -> SandboxServer:
        extra = {
            name.removeprefix("conn_"): options.pop(name)
            for name in list(options)
            if name.startswith("conn_")
        }
        server = make_sandbox(**{"contacts": 0, "allow_duplicates": True, **options})
        for name, value in connection_env(server.url, backoff_base=0.01, **extra).items():
            monkeypatch.setenv(name, value)
        return server

    return starter


def batch_spec(*, lookup: bool = True, check_before_create: bool = False, **extra: Any) -> ApiResource:
    return resource(
        idempotency=True,
        lookup=lookup,
        check_before_create=check_before_create,
        batch_create_path="/v1/contacts/batch",
        batch_size=20,
        **extra,
    )


def upserter(state_url: str, spec: ApiResource, **options: Any) -> ApiUpserter:
    return build(state_url, "test-owner", spec, **options)


def assert_created_once(sandbox: SandboxServer, state_url: str, count: int) -> None:
    creates = sandbox.stats()["creates_by_key"]
    assert (len(creates), max(creates.values())) == (count, 1)
    keys = [record["email"] for record in contacts(count)]
    entries = Ledger(make_engine(state_url), INTEGRATION).get_many(keys)
    assert len(entries) == count
    assert {entry.status for entry in entries.values()} == {"created"}


@pytest.mark.parametrize("check_before_create", [False, True], ids=["no-lookup", "lookup-first"])
def test_batches_create_each_record_once_and_a_rerun_sends_nothing(
    start: Start, state_url: str, check_before_create: bool
) -> None:
    sandbox = start()
    spec = batch_spec(check_before_create=check_before_create)
    counts = upserter(state_url, spec).run(contacts(50))
    lookups = 50 if check_before_create else 0
    assert (counts.created, counts.requests) == (50, lookups + 3)  # 20 + 20 + 10
    assert sandbox.stats()["requests_by_route"][BATCH_ROUTE] == 3
    assert_created_once(sandbox, state_url, 50)

    before = sandbox.stats()["requests_total"]
    again = upserter(state_url, spec).run(contacts(50))
    assert (again.unchanged, again.requests) == (50, 0)
    assert sandbox.stats()["requests_total"] == before


def test_a_mixed_batch_dead_letters_the_rejected_and_creates_the_others(start: Start, state_url: str) -> None:
    sandbox = start(fail_404=["user00003@example.com"], fail_422=["user00011@example.com"])
    records: list[dict[str, Any]] = contacts(30)
    records.append({"email": 12345, "first_name": "Not a string"})  # the API wants a string
    counts = upserter(state_url, batch_spec(), max_failure_ratio=0.2).run(records)
    assert (counts.created, counts.dead_lettered, counts.requests) == (28, 3, 2)
    with make_engine(state_url).connect() as conn:
        rows = {row.record_key: row for row in conn.execute(select(dead_letters))}
    assert {key: row.http_status for key, row in rows.items()} == {
        "user00003@example.com": 404,
        "user00011@example.com": 422,
        "12345": 422,
    }
    assert "fail_404" in rows["user00003@example.com"].message
    assert "email must be a string" in rows["12345"].message
    assert rows["12345"].payload["first_name"] == "Not a string"
    creates = sandbox.stats()["creates_by_key"]
    assert (len(creates), max(creates.values())) == (28, 1)


def test_records_that_exist_remotely_are_adopted_from_the_batch_answer(start: Start, state_url: str) -> None:
    sandbox = start(allow_duplicates=False)
    ReliableHttpHook(http_conn_id="api_upsert_sandbox").request("POST", "/v1/contacts", json=contacts(1)[0])
    counts = upserter(state_url, batch_spec()).run(contacts(5, version=2))
    assert (counts.created, counts.adopted) == (4, 1)
    entry = Ledger(make_engine(state_url), INTEGRATION).get_many(["user00000@example.com"])
    assert entry["user00000@example.com"].remote_id == "con_000001"
    stats = sandbox.stats()
    assert set(stats["creates_by_key"].values()) == {1}
    assert stats["requests_by_route"]["PATCH /v1/contacts/{id}"] == 1  # the adopted one gets version 2


def test_batches_retried_after_503s_and_timeouts_create_nothing_twice(start: Start, state_url: str) -> None:
    # A slow answer arrives after the client gave up: the batch ran, and is sent again.
    sandbox = start(
        p_503=0.3, p_slow=0.3, slow_seconds=0.6, seed=7, conn_read_timeout=0.3, conn_max_retries=8
    )
    counts = upserter(state_url, batch_spec()).run(contacts(100))
    assert counts.created == 100
    stats = sandbox.stats()
    assert stats["faults_injected"]["503"] > 0
    assert stats["faults_injected"]["slow"] > 0
    assert stats["requests_by_route"][BATCH_ROUTE] > 5  # the hook's retries, under the same keys
    assert_created_once(sandbox, state_url, 100)


@pytest.mark.parametrize("lookup", [False, True], ids=["keys-only", "keys-and-lookup"])
def test_a_batch_lost_after_it_ran_is_recovered_by_the_next_try(
    start: Start, state_url: str, lookup: bool
) -> None:
    sandbox = start(p_slow=1.0, slow_seconds=0.6, lookup=lookup, conn_read_timeout=0.2, conn_max_retries=0)
    spec = batch_spec(lookup=lookup)
    with pytest.raises(NetworkError):
        upserter(state_url, spec).run(contacts(30))
    sandbox.configure(p_slow=0)
    # The next try comes once the lost request has run: a lookup cannot see a create in progress.
    for _ in range(200):
        if sandbox.stats()["creates_total"] == 20:
            break
        time.sleep(0.05)
    counts = upserter(state_url, spec).run(contacts(30))
    assert counts.created + counts.adopted == 30
    if not lookup:  # the same batch under the same key: the API answers what it did
        assert sandbox.stats()["idempotent_replays"] >= 1
    assert_created_once(sandbox, state_url, 30)


def test_a_batch_the_api_never_answered_is_sent_again_under_its_key(start: Start, state_url: str) -> None:
    sandbox = start(p_503=1.0, lookup=False, conn_max_retries=1)
    spec = batch_spec(lookup=False)
    with pytest.raises(ServerError):
        upserter(state_url, spec).run(contacts(10))
    sandbox.configure(p_503=0)
    counts = upserter(state_url, spec).run(contacts(10))
    assert (counts.created, counts.requests) == (10, 1)
    assert_created_once(sandbox, state_url, 10)
