"""``ApiUpserter`` against the sandbox: every response path, re-runs without requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_upsert_worker import INTEGRATION, build, connection_env, contacts, resource
from sqlalchemy import select

from reliable_api.core.keys import content_hash, idempotency_key
from reliable_api.exceptions import ConfigurationError, FailureBudgetExceeded
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import dead_letters
from reliable_api.testing.sandbox.server import SandboxServer

Start = Callable[..., SandboxServer]


@pytest.fixture
def start(make_sandbox: Start, monkeypatch: pytest.MonkeyPatch) -> Start:
    """Start a sandbox (empty unless told) and point the connection at it."""

    def starter(**options: Any) -> SandboxServer:
        server = make_sandbox(**{"contacts": 0, **options})
        for name, value in connection_env(server.url).items():
            monkeypatch.setenv(name, value)
        return server

    return starter


def upserter(state_url: str, spec: ApiResource | None = None, **options: Any) -> ApiUpserter:
    return build(state_url, "test-owner", spec or resource(idempotency=True, lookup=True), **options)


def dead_letter_rows(state_url: str) -> dict[str, Any]:
    with make_engine(state_url).connect() as conn:
        return {row.record_key: row for row in conn.execute(select(dead_letters))}


@pytest.mark.parametrize("check_before_create", [True, False])
def test_unchanged_rerun_sends_no_request(start: Start, state_url: str, check_before_create: bool) -> None:
    sandbox = start()
    spec = resource(idempotency=True, lookup=True, check_before_create=check_before_create)
    first = upserter(state_url, spec).run(contacts(50))
    assert (first.created, first.requests) == (50, 100 if check_before_create else 50)
    before = sandbox.stats()["requests_total"]
    again = upserter(state_url, spec).run(contacts(50))
    assert (again.unchanged, again.requests) == (50, 0)
    assert sandbox.stats()["requests_total"] == before


def test_changed_records_are_updated(start: Start, state_url: str) -> None:
    sandbox = start()
    upserter(state_url).run(contacts(10))
    changed = contacts(10)
    changed[3]["first_name"] = "Renamed"
    counts = upserter(state_url).run(changed)
    assert (counts.updated, counts.unchanged, counts.requests) == (1, 9, 1)
    stats = sandbox.stats()
    assert stats["requests_by_route"].get("PATCH /v1/{resource}/{record_id}", 1) == 1
    assert set(stats["creates_by_key"].values()) == {1}


def test_records_existing_remotely_are_adopted_by_lookup(start: Start, state_url: str) -> None:
    sandbox = start()
    ReliableHttpHook(http_conn_id="api_upsert_sandbox").request("POST", "/v1/contacts", json=contacts(1)[0])
    counts = upserter(state_url).run(contacts(3))
    assert (counts.adopted, counts.created) == (1, 2)
    assert set(sandbox.stats()["creates_by_key"].values()) == {1}


def test_409_already_exists_adopts_the_existing_id(start: Start, state_url: str) -> None:
    sandbox = start()
    ReliableHttpHook(http_conn_id="api_upsert_sandbox").request("POST", "/v1/contacts", json=contacts(1)[0])
    spec = resource(idempotency=True, lookup=False)
    counts = upserter(state_url, spec).run(contacts(3, version=2))
    assert (counts.adopted, counts.created) == (1, 2)
    remote_id = Ledger(make_engine(state_url), INTEGRATION).get_many(["user00000@example.com"])
    assert remote_id["user00000@example.com"].remote_id == "con_000001"
    assert set(sandbox.stats()["creates_by_key"].values()) == {1}


def test_rejected_records_are_dead_lettered_and_the_run_goes_on(start: Start, state_url: str) -> None:
    start(fail_422=["user00001@example.com"], fail_404=["user00002@example.com"])
    records: list[Any] = contacts(40)
    records += [{"first_name": "no key"}, {"email": "nan@example.com", "score": float("nan")}]
    counts = upserter(state_url, max_failure_ratio=0.2).run(records)
    assert (counts.created, counts.dead_lettered) == (38, 4)
    rows = dead_letter_rows(state_url)
    assert rows["user00001@example.com"].http_status == 422
    assert rows["user00002@example.com"].http_status == 404
    assert "natural key field 'email'" in next(r.message for k, r in rows.items() if k.startswith("no-key:"))
    assert "not JSON-serialisable" in rows["nan@example.com"].message


def test_too_many_dead_letters_fail_the_run(start: Start, state_url: str) -> None:
    start(fail_422=[f"user0000{n}@example.com" for n in range(4)])
    with pytest.raises(FailureBudgetExceeded):
        upserter(state_url).run(contacts(20))


def test_duplicate_keys_in_a_batch_last_wins(start: Start, state_url: str) -> None:
    sandbox = start()
    records = [*contacts(3), {**contacts(1)[0], "first_name": "Last"}]
    counts = upserter(state_url).run(records)
    assert (counts.created, counts.duplicates_in_batch) == (3, 1)
    found = ReliableHttpHook(http_conn_id="api_upsert_sandbox").request(
        "GET", "/v1/contacts/search", params={"email": "user00000@example.com"}
    )
    assert found.json()["data"][0]["first_name"] == "Last"
    assert sandbox.stats()["creates_total"] == 3


def test_a_reused_key_with_changed_content_is_dead_lettered(start: Start, state_url: str) -> None:
    start(allow_duplicates=True)
    old = contacts(1)[0]
    key = "user00000@example.com"
    old_hash = content_hash(old)
    old_key = idempotency_key(INTEGRATION, key, old_hash)
    # An earlier try wrote the intent, sent the create, and died before the ledger write.
    ledger = Ledger(make_engine(state_url), INTEGRATION, owner="crashed", lease_seconds=0)
    ledger.claim(key, old_hash, old_key)
    hook = ReliableHttpHook(http_conn_id="api_upsert_sandbox")
    hook.request("POST", "/v1/contacts", json=old, headers={"Idempotency-Key": old_key})
    counts = upserter(state_url, resource(idempotency=True, lookup=False), max_failure_ratio=1).run(
        contacts(1, version=2)
    )
    assert counts.dead_lettered == 1
    entry = dead_letter_rows(state_url)[key]
    assert (entry.http_status, entry.error_class) == (422, "RecordRejected")
    assert "changed since" in entry.message


def test_a_pending_intent_is_recovered_by_the_same_key(start: Start, state_url: str) -> None:
    sandbox = start(allow_duplicates=True)
    record = contacts(1)[0]
    key = record["email"]
    intent = idempotency_key(INTEGRATION, key, content_hash(record))
    Ledger(make_engine(state_url), INTEGRATION, owner="crashed", lease_seconds=0).claim(
        key, content_hash(record), intent
    )
    ReliableHttpHook(http_conn_id="api_upsert_sandbox").request(
        "POST", "/v1/contacts", json=record, headers={"Idempotency-Key": intent}
    )
    counts = upserter(state_url, resource(idempotency=True, lookup=False)).run([record])
    assert counts.created == 1
    assert sandbox.stats()["creates_by_key"] == {"contacts:user00000@example.com": 1}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"update_path": "/v1/contacts"}, "exactly the placeholders {id}"),
        ({"update_path": "/v1/contacts/{id}/{other}"}, "found ['id', 'other']"),
        ({"update_path": "/v1/contacts/{id"}, "not a valid path template"),
        ({"create_path": "/v1/{kind}"}, "no placeholders"),
        ({"natural_key": ()}, "natural_key"),
        ({"lookup_params": {"phone": "p"}}, "outside natural_key"),
    ],
)
def test_a_wrong_resource_spec_is_a_configuration_error(changes: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "natural_key": ("email",),
        "create_path": "/v1/contacts",
        "update_path": "/v1/contacts/{id}",
        **changes,
    }
    with pytest.raises(ConfigurationError) as raised:
        ApiResource(**options)
    assert message in str(raised.value)


def test_no_keys_and_no_lookup_refuses_without_opt_in() -> None:
    with pytest.raises(ConfigurationError, match=r"supports_idempotency_keys=False.*lookup_path"):
        resource(idempotency=False, lookup=False)
    assert resource(idempotency=False, lookup=False, allow_unsafe=True).allow_unsafe
