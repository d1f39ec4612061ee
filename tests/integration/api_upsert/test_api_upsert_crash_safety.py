"""SIGKILL during an API upsert, at many points, then re-runs: never a duplicate, nothing lost.

Each run is a child forked from the test process (everything already imported, so a child
starts in milliseconds; it builds its own engine and hook, sharing nothing with the parent); the
child kills itself with SIGKILL at the N-th occurrence of a step (intent written, before create,
after create, after the ledger write). The sandbox allows duplicates, so any second create of a
natural key would show in ``creates_by_key``.

Safe: Idempotency-Key support, or a lookup by natural key, or both. Unsafe: neither; refused
unless ``allow_unsafe=True``, and then a kill right after a create does duplicate the record.
The same holds for batch creates, where a step is one batch request (its intents, its answer,
its ledger write).
"""

from __future__ import annotations

import json
import multiprocessing
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import api_upsert_worker
import pytest
from api_upsert_worker import INTEGRATION, connection_env, contacts

from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine
from reliable_api.testing.sandbox.server import SandboxServer

STEPS = ("intent_written", "before_create", "after_create", "ledger_written")


@pytest.fixture(scope="module")
def forking() -> Any:
    """A multiprocessing context whose children start with everything already imported."""
    return multiprocessing.get_context("fork")


def run_child(forking: Any, config: dict[str, Any], tmp_path: Path, number: int) -> dict[str, int] | None:
    """Run one upsert in a child; its counts, or ``None`` when it was killed."""
    result = tmp_path / f"result-{number}.json"
    child = forking.Process(target=api_upsert_worker.run, args=({**config, "result": str(result)},))
    child.start()
    child.join(timeout=120)
    if child.exitcode == -signal.SIGKILL:
        return None
    assert child.exitcode == 0, f"the upsert failed (exit code {child.exitcode})"
    return dict(json.loads(result.read_text()))


def crash_and_rerun(
    forking: Any,
    sandbox: SandboxServer,
    state_url: str,
    tmp_path: Path,
    *,
    records: int,
    kills: int,
    spacing: int,
    **spec: Any,
) -> int:
    """Kill ``kills`` runs at varied steps, then run until one finishes; the number killed."""
    config = {
        "env": connection_env(sandbox.url),
        "state_url": state_url,
        "owner": "dag.task.run",  # every try of one task instance: takes its own claims back
        "resource": spec,
        "records": records,
    }
    killed = 0
    for number in range(kills):
        step = STEPS[number % len(STEPS)]
        at = 1 + (number * spacing) % (2 * spacing) + number % 3
        if run_child(forking, {**config, "kill_step": step, "kill_at": at}, tmp_path, number) is None:
            killed += 1
    assert run_child(forking, config, tmp_path, kills) is not None
    return killed


def assert_every_record_created_once(sandbox: SandboxServer, state_url: str, records: int) -> None:
    creates = sandbox.stats()["creates_by_key"]
    assert max(creates.values()) == 1
    assert len(creates) == records
    keys = [record["email"] for record in contacts(records)]
    entries = Ledger(make_engine(state_url), INTEGRATION).get_many(keys)
    assert {entry.status for entry in entries.values()} == {"created"}
    assert len(entries) == records


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_thousand_records_killed_at_twenty_points(
    make_sandbox: Callable[..., SandboxServer],
    forking: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
) -> None:
    state_url = request.getfixturevalue("state_url" if backend == "sqlite" else "postgres_state_url")
    sandbox = make_sandbox(contacts=0, allow_duplicates=True)
    killed = crash_and_rerun(
        forking,
        sandbox,
        state_url,
        tmp_path,
        records=1000,
        kills=20,
        spacing=20,
        idempotency=True,
        lookup=True,
    )
    assert killed == 20
    assert_every_record_created_once(sandbox, state_url, 1000)


@pytest.mark.parametrize(
    ("idempotency", "lookup", "batch"),
    [
        (True, False, False),
        (False, True, False),
        (True, True, True),
        (True, False, True),
        (False, True, True),
    ],
    ids=["keys-only", "lookup-only", "batch-keys-and-lookup", "batch-keys-only", "batch-lookup-only"],
)
def test_each_safe_api_survives_kills(
    make_sandbox: Callable[..., SandboxServer],
    forking: Any,
    state_url: str,
    tmp_path: Path,
    idempotency: bool,
    lookup: bool,
    batch: bool,
) -> None:
    sandbox = make_sandbox(contacts=0, allow_duplicates=True, idempotency=idempotency, lookup=lookup)
    # A batch step comes once per batch: fewer records, closer kills.
    records, spacing = (100, 2) if batch else (200, 8)
    options = {"batch_create_path": "/v1/contacts/batch", "batch_size": 4} if batch else {}
    killed = crash_and_rerun(
        forking,
        sandbox,
        state_url,
        tmp_path,
        records=records,
        kills=8,
        spacing=spacing,
        idempotency=idempotency,
        lookup=lookup,
        **options,
    )
    assert killed == 8
    assert_every_record_created_once(sandbox, state_url, records)
    if batch and not lookup:  # a batch answered but not written was sent again under its key
        assert sandbox.stats()["idempotent_replays"] > 0


def test_without_keys_or_lookup_a_kill_after_create_duplicates(
    make_sandbox: Callable[..., SandboxServer], forking: Any, state_url: str, tmp_path: Path
) -> None:
    """Why the unsafe combination needs ``allow_unsafe=True``: this is the risk it accepts."""
    sandbox = make_sandbox(contacts=0, allow_duplicates=True, idempotency=False, lookup=False)
    config = {
        "env": connection_env(sandbox.url),
        "state_url": state_url,
        "owner": "dag.task.run",
        "resource": {"idempotency": False, "lookup": False, "allow_unsafe": True},
        "records": 20,
    }
    assert run_child(forking, {**config, "kill_step": "after_create", "kill_at": 5}, tmp_path, 0) is None
    assert run_child(forking, config, tmp_path, 1) is not None
    assert sandbox.stats()["duplicate_creates"] == 1
