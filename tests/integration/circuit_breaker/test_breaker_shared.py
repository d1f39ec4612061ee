"""One breaker shared by many processes on every backend: one opening, one probe, one closing.

Six forked processes report failures at once into the same connection's breaker. Exactly one
of them sees it open (one alert), every process is then refused with the time left, and after
``open_seconds`` exactly one process gets the probe; its success closes it, seen once.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from reliable_api.exceptions import ServerError
from reliable_api.http.circuit_breaker import BreakerSettings, CircuitBreaker, CircuitOpen
from reliable_api.http.shared_state import shared_state

PROCESSES = 6
SETTINGS = BreakerSettings(failures=5, open_seconds=2, probe_seconds=30)


def store_options(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if backend == "sqlite":
        return {"path": tmp_path / "shared.sqlite"}
    if backend == "postgres":
        return {"url": request.getfixturevalue("postgres_url")}
    return {"url": request.getfixturevalue("redis_url"), "prefix": request.getfixturevalue("redis_namespace")}


def worker(backend: str, options: dict[str, Any], name: str, barrier: Any, results: Any) -> None:
    """Fail 4 times, then try to send until the breaker lets this process probe or closes."""
    changes: list[tuple[str, float]] = []
    breaker = CircuitBreaker(
        shared_state(backend, **options),
        name,
        SETTINGS,
        on_change=lambda change: changes.append((change.change, change.state.get("open_until", 0.0))),
    )
    barrier.wait()
    for _ in range(4):
        breaker.record(ServerError("503", status=503))
    barrier.wait()  # every failure is counted: from here on it is open
    refused = probes = 0
    admitted = None
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            breaker.admit()
        except CircuitOpen as wait:
            refused += 1
            time.sleep(min(wait.retry_after or 0.1, 0.2))
            continue
        admitted = admitted or time.time()
        if breaker.state() == "half_open":
            probes += 1
            breaker.record(None)  # the API is back
        if breaker.state() == "closed":
            break
    results.put({"changes": changes, "refused": refused, "probes": probes, "admitted": admitted})


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis"])
def test_one_opening_one_probe_one_closing_across_processes(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    options = store_options(backend, request, tmp_path)
    forking = multiprocessing.get_context("fork")
    results = forking.Queue()
    barrier = forking.Barrier(PROCESSES)
    name = f"api-{tmp_path.name}"
    children = [
        forking.Process(target=worker, args=(backend, options, name, barrier, results))
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        reports = [results.get(timeout=60) for _ in children]
        for child in children:
            child.join(timeout=30)
            assert child.exitcode == 0
    finally:  # a child that failed leaves the others waiting at the barrier: none outlives the test
        for child in children:
            child.kill()
    changes = dict(change for report in reports for change in report["changes"])
    assert sorted(changes) == ["closed", "opened"]  # one of each, seen by one process each
    assert sum(report["probes"] for report in reports) == 1
    assert all(report["refused"] > 0 for report in reports)
    # Nobody was let through before the breaker's time was up.
    assert all(report["admitted"] >= changes["opened"] for report in reports)
