"""Exactly once against an API that fails, and loses answers after it acted, with and without keys.

The sandbox allows duplicates (as most CRMs do), so a second create of a natural key would show
in its per-key create counter. Its "lost answer" faults commit the request and then answer 502,
or hold the answer past the client's read timeout: the client cannot tell them from a failure
before the API acted. One try of the upsert must resolve them all, with no duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_upsert_worker import CONN_ID, build, connection_env, contacts, resource
from sqlalchemy import select

from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import dead_letters
from reliable_api.testing.sandbox.server import SandboxServer

Start = Callable[..., SandboxServer]
#: Short waits: the faults are many, the test must stay quick.
FAST_RETRIES = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_retries": 8}
FAULTS = {"p_503": 0.05, "p_reset": 0.02, "p_lost_502": 0.1}


@pytest.fixture
def start(make_sandbox: Start, monkeypatch: pytest.MonkeyPatch) -> Callable[..., SandboxServer]:
    """An empty sandbox that allows duplicates; the connection points at it with fast retries."""

    def starter(*, read_timeout: float = 10.0, **options: Any) -> SandboxServer:
        server = make_sandbox(contacts=0, allow_duplicates=True, **options)
        env = connection_env(server.url, read_timeout=read_timeout, **FAST_RETRIES)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return server

    return starter


def assert_created_once(sandbox: SandboxServer, count: int) -> None:
    stats = sandbox.stats()
    assert stats["duplicate_creates"] == 0
    assert len(stats["creates_by_key"]) == count


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_without_keys_lost_answers_are_resolved_by_lookup_in_the_same_try(
    start: Start, state_url: str, batch: bool
) -> None:
    sandbox = start(idempotency=False, **FAULTS)
    options = {"batch_create_path": "/v1/contacts/batch", "batch_size": 5} if batch else {}
    spec = resource(idempotency=False, lookup=True, **options)
    counts = build(state_url, "owner", spec, max_failure_ratio=0).run(contacts(150))
    assert counts.created + counts.adopted == 150
    assert counts.resolved_lost > 0  # some answers were lost, and resolved in this try
    assert counts.adopted > 0  # ... some of them had created the record
    assert sandbox.stats()["faults_injected"]["lost_502"] > 0
    assert_created_once(sandbox, 150)
    before = sandbox.stats()["requests_total"]
    again = build(state_url, "owner", spec).run(contacts(150))
    assert (again.unchanged, again.requests) == (150, 0)
    assert sandbox.stats()["requests_total"] == before


def test_with_keys_a_lost_answer_is_replayed_under_the_same_key(start: Start, state_url: str) -> None:
    sandbox = start(idempotency=True, **FAULTS)
    spec = resource(idempotency=True, lookup=False)
    counts = build(state_url, "owner", spec, max_failure_ratio=0).run(contacts(150))
    assert counts.created == 150
    assert sandbox.stats()["idempotent_replays"] > 0
    assert_created_once(sandbox, 150)


def test_an_answer_held_past_the_read_timeout_is_resolved(start: Start, state_url: str) -> None:
    sandbox = start(idempotency=False, p_lost_stall=0.1, slow_seconds=1.0, read_timeout=0.3)
    spec = resource(idempotency=False, lookup=True, check_before_create=False)
    counts = build(state_url, "owner", spec, max_failure_ratio=0).run(contacts(40))
    assert counts.created + counts.adopted == 40
    assert counts.resolved_lost > 0
    assert_created_once(sandbox, 40)


def test_updates_that_fail_for_a_moment_are_sent_again(start: Start, state_url: str) -> None:
    sandbox = start(idempotency=False)
    spec = resource(idempotency=False, lookup=True)
    build(state_url, "owner", spec).run(contacts(60))
    sandbox.configure(p_503=0.2, p_reset=0.05)
    counts = build(state_url, "owner", spec, max_failure_ratio=0).run(contacts(60, version=2))
    assert counts.updated == 60
    found = ReliableHttpHook(http_conn_id=CONN_ID).request("GET", "/v1/contacts", params={"limit": 100})
    assert {record["version"] for record in found.json()["data"]} == {2}


def test_two_remote_records_for_one_key_dead_letter_it_with_both_ids(start: Start, state_url: str) -> None:
    start(idempotency=False)
    hook = ReliableHttpHook(http_conn_id=CONN_ID)
    twins = [hook.request("POST", "/v1/contacts", json=contacts(1)[0]).json()["id"] for _ in range(2)]
    counts = build(state_url, "owner", resource(idempotency=False, lookup=True), max_failure_ratio=1).run(
        contacts(3)
    )
    assert (counts.created, counts.dead_lettered, counts.adopted) == (2, 1, 0)
    with make_engine(state_url).connect() as conn:
        (row,) = conn.execute(select(dead_letters)).all()
    assert row.record_key == "user00000@example.com"
    assert all(twin in row.message for twin in twins)
