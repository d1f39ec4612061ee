"""Two processes upserting the same 200 records at once: zero duplicates."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import api_upsert_worker
import pytest
from api_upsert_worker import connection_env

from reliable_api.testing.sandbox.server import SandboxServer


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize(("idempotency", "lookup"), [(True, True), (True, False), (False, True)])
def test_two_runs_at_once_create_every_record_once(
    make_sandbox: Callable[..., SandboxServer],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    idempotency: bool,
    lookup: bool,
) -> None:
    state_url = request.getfixturevalue("state_url" if backend == "sqlite" else "postgres_state_url")
    sandbox = make_sandbox(contacts=0, allow_duplicates=True, idempotency=idempotency, lookup=lookup)
    forking = multiprocessing.get_context("fork")
    runs = []
    for name in ("run_a", "run_b"):  # two dag runs: two owners, competing for the same keys
        config = {
            "env": connection_env(sandbox.url),
            "state_url": state_url,
            "owner": name,
            "resource": {"idempotency": idempotency, "lookup": lookup},
            "records": 200,
            "result": str(tmp_path / f"{name}.json"),
        }
        runs.append(forking.Process(target=api_upsert_worker.run, args=(config,)))
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=120)
    assert [run.exitcode for run in runs] == [0, 0]
    creates = sandbox.stats()["creates_by_key"]
    assert (len(creates), max(creates.values())) == (200, 1)
    counts = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("run_a", "run_b")]
    written = sum(c["created"] + c["adopted"] for c in counts)
    assert written == 200  # each record written by one run, skipped as unchanged by the other
    assert sum(c["unchanged"] for c in counts) == 200
