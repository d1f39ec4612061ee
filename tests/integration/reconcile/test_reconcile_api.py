"""Reconciliation against the sandbox: records deleted or edited behind the ledger's back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter, UpsertCounts
from reliable_api.idempotency.ledger import Ledger
from reliable_api.idempotency.reconcile import ReconcileCounts, Reconciler, Reconciliation
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import dead_letters
from reliable_api.testing.sandbox.server import SandboxServer

CONN_ID = "reconcile_sandbox"
INTEGRATION = "marketing_contacts"
RECORDS = 200


def contacts(count: int) -> list[dict[str, Any]]:
    return [{"email": f"user{n:05d}@example.com", "first_name": f"User {n}"} for n in range(count)]


def spec(*, batch: bool) -> ApiResource:
    return ApiResource(
        natural_key=("email",),
        create_path="/v1/contacts",
        update_path="/v1/contacts/{id}",
        lookup_path="/v1/contacts/search",
        check_before_create=False,
        batch_create_path="/v1/contacts/batch" if batch else None,
        batch_size=50,
    )


class Pipeline:
    """The upsert of one integration, run after run, with the reconciliation each run asks for."""

    def __init__(self, state_url: str, resource: ApiResource) -> None:
        self.engine = make_engine(state_url)
        self.resource = resource
        self.hook = ReliableHttpHook(http_conn_id=CONN_ID)
        self.runs = 0

    def run(self, records: list[dict[str, Any]], **reconcile: Any) -> tuple[UpsertCounts, ReconcileCounts]:
        self.runs += 1
        ledger = Ledger(self.engine, INTEGRATION, owner=f"run-{self.runs}")
        store = DeadLetterStore(self.engine)
        reconciler = Reconciler(
            self.hook, self.resource, ledger, Reconciliation(**reconcile), salt=f"run-{self.runs}"
        )
        upserter = ApiUpserter(
            self.hook,
            self.resource,
            ledger,
            lambda key, payload, error: store.add(INTEGRATION, key, payload, error),
            reconciler=reconciler,
        )
        return upserter.run(records), reconciler.counts

    def remote_ids(self, keys: list[str]) -> dict[str, str]:
        entries = Ledger(self.engine, INTEGRATION).get_many(keys)
        return {key: str(entry.remote_id) for key, entry in entries.items()}


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    server = make_sandbox(contacts=0)
    conn = {"conn_type": "reliable_http", "host": server.url, "extra": {"limiter_backend": "memory"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return server


def remote_emails(hook: ReliableHttpHook) -> list[str]:
    body = hook.request("GET", "/v1/contacts", params={"per_page": 1000}).json()
    return sorted(record["email"] for record in body["data"])


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch-create"])
def test_a_full_pass_finds_exactly_the_deleted_records_and_recreates_them(
    sandbox: SandboxServer, tmp_path: Path, batch: bool
) -> None:
    pipeline = Pipeline(f"sqlite:///{tmp_path / 'state.db'}", spec(batch=batch))
    records = contacts(RECORDS)
    first, _ = pipeline.run(records)
    assert first.created == RECORDS

    ids = pipeline.remote_ids([record["email"] for record in records])
    deleted = sorted(ids)[::20]  # 5%, behind the ledger's back
    assert len(deleted) == RECORDS // 20
    for key in deleted:
        pipeline.hook.request("DELETE", f"/v1/contacts/{ids[key]}")

    unaware, _ = pipeline.run(records)  # without reconciliation the ledger skips them
    assert (unaware.unchanged, unaware.created, unaware.requests) == (RECORDS, 0, 0)

    counts, drift = pipeline.run(records, mode="full")
    assert drift == ReconcileCounts(checked=RECORDS, missing=len(deleted), recreated=len(deleted))
    assert (counts.created, counts.unchanged, counts.dead_lettered) == (
        len(deleted),
        RECORDS - len(deleted),
        0,
    )
    assert remote_emails(pipeline.hook) == sorted(record["email"] for record in records)  # each once
    recreated = pipeline.remote_ids(deleted)
    assert all(recreated[key] != ids[key] for key in deleted)

    settled, drift = pipeline.run(records, mode="full")
    assert drift == ReconcileCounts(checked=RECORDS)
    assert (settled.unchanged, settled.created) == (RECORDS, 0)


def test_the_dead_letter_policy_files_the_missing_records(sandbox: SandboxServer, tmp_path: Path) -> None:
    pipeline = Pipeline(f"sqlite:///{tmp_path / 'state.db'}", spec(batch=False))
    records = contacts(20)
    pipeline.run(records)
    ids = pipeline.remote_ids(["user00003@example.com"])
    pipeline.hook.request("DELETE", f"/v1/contacts/{ids['user00003@example.com']}")

    counts, drift = pipeline.run(records, mode="full", policy="dead_letter")
    assert drift == ReconcileCounts(checked=20, missing=1, dead_lettered=1)
    assert (counts.dead_lettered, counts.created, counts.unchanged) == (1, 0, 19)
    with pipeline.engine.connect() as conn:
        [row] = conn.execute(select(dead_letters)).all()
    assert (row.record_key, row.http_status) == ("user00003@example.com", 404)
    assert "(deleted outside the pipeline); policy dead_letter" in row.message


def test_a_record_edited_remotely_is_drift_and_is_written_back(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    pipeline = Pipeline(f"sqlite:///{tmp_path / 'state.db'}", spec(batch=False))
    records = contacts(10)
    pipeline.run(records)
    remote_id = pipeline.remote_ids(["user00004@example.com"])["user00004@example.com"]
    pipeline.hook.request("PATCH", f"/v1/contacts/{remote_id}", json={"first_name": "Edited by hand"})

    counts, drift = pipeline.run(records, mode="full")
    assert drift == ReconcileCounts(checked=10, changed=1)
    assert (counts.updated, counts.unchanged) == (1, 9)
    assert pipeline.hook.request("GET", f"/v1/contacts/{remote_id}").json()["first_name"] == "User 4"


def test_an_update_answered_404_follows_the_policy(sandbox: SandboxServer, tmp_path: Path) -> None:
    pipeline = Pipeline(f"sqlite:///{tmp_path / 'state.db'}", spec(batch=False))
    records = contacts(20)
    pipeline.run(records)
    remote_id = pipeline.remote_ids(["user00002@example.com"])["user00002@example.com"]
    pipeline.hook.request("DELETE", f"/v1/contacts/{remote_id}")
    records[2]["first_name"] = "Changed at the source"

    counts, drift = pipeline.run(records)  # reconciliation off: the update finds the record gone
    assert drift == ReconcileCounts(missing=1, recreated=1)
    assert (counts.created, counts.updated, counts.dead_lettered) == (1, 0, 0)
    [found] = pipeline.hook.request(
        "GET", "/v1/contacts/search", params={"email": "user00002@example.com"}
    ).json()["data"]
    assert found["first_name"] == "Changed at the source"

    pipeline.hook.request("DELETE", f"/v1/contacts/{found['id']}")
    records[2]["first_name"] = "Changed again"
    counts, drift = pipeline.run(records, policy="dead_letter")
    assert drift == ReconcileCounts(missing=1, dead_lettered=1)
    assert (counts.created, counts.dead_lettered) == (0, 1)


def test_a_sample_checks_the_share_each_run_picks(sandbox: SandboxServer, tmp_path: Path) -> None:
    pipeline = Pipeline(f"sqlite:///{tmp_path / 'state.db'}", spec(batch=True))
    records = contacts(RECORDS)
    pipeline.run(records)
    picked = []
    for _ in range(2):
        salt = f"run-{pipeline.runs + 1}"
        expected = sum(
            Reconciliation(mode="sample", sample_ratio=0.1).chooses(r["email"], salt) for r in records
        )
        _, drift = pipeline.run(records, mode="sample", sample_ratio=0.1)
        assert drift == ReconcileCounts(checked=expected)
        picked.append(expected)
    assert all(0 < n < RECORDS // 4 for n in picked)
