"""Processes sharing one limit through a backend admit exactly what GCRA allows."""

from __future__ import annotations

import math
import multiprocessing
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import pytest

from tests.integration.throttle.backends import SHARED_BACKENDS, BackendFactory
from tests.integration.throttle.backends import key as key
from tests.integration.throttle.backends import make as make
from tests.unit.throttle.fakes import paused_for, single

# Forked, not spawned: a spawned worker would spend seconds importing Airflow.
FORK = multiprocessing.get_context("fork")
PROCESSES = 4
INTERVAL = 0.02  # 50 requests per second
BURST = 10  # > 1: a grant up to 9 intervals after its slot (a loaded machine) shifts no later slot
SECONDS = 2.0


def hammer(make: BackendFactory, key: str, start: Event, results: Queue[tuple[int, list[float]]]) -> None:
    """Reserve without waiting for SECONDS; report the grants and when the first and last call
    began and ended (each decision happened between its call's start and end)."""
    backend = make()
    start.wait()
    granted, began = 0, time.time()
    times = [began]
    while began < times[0] + SECONDS:
        granted += backend.reserve(key, **single(INTERVAL, BURST), max_wait=0).granted
        ended = time.time()
        if len(times) == 1:
            times.append(ended)
        times[2:] = [began, ended]
        began = ended
    results.put((granted, times))
    backend.close()


def wait_once(make: BackendFactory, key: str, results: Queue[tuple[float, float]]) -> None:
    backend = make()
    paused = paused_for(backend, key)
    results.put((paused, backend.reserve(key, **single(INTERVAL, 1), max_wait=math.inf).wait))
    backend.close()


@pytest.mark.parametrize("make", SHARED_BACKENDS, indirect=True)
def test_processes_hammering_one_limit_admit_exactly_what_gcra_allows(make: BackendFactory, key: str) -> None:
    make().close()  # creates the table or file before the race
    start, results = FORK.Event(), FORK.Queue()
    workers = [FORK.Process(target=hammer, args=(make, key, start, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    start.set()
    reports = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    granted = sum(report[0] for report in reports)
    first_began, first_ended = (min(report[1][i] for report in reports) for i in (0, 1))
    last_began, last_ended = (max(report[1][i] for report in reports) for i in (2, 3))
    # The first decision came between first_began and first_ended, the last between last_began
    # and last_ended; GCRA allows the burst plus one per interval in between. With BURST > 1
    # no slot is lost to a moment when no process happened to be calling.
    assert granted <= BURST + (last_ended - first_began) / INTERVAL
    assert granted >= BURST + (last_began - first_ended) / INTERVAL - 1


@pytest.mark.parametrize("make", SHARED_BACKENDS, indirect=True)
def test_a_pause_set_by_one_process_holds_the_others(make: BackendFactory, key: str) -> None:
    pausing = make()
    pausing.pause(key, seconds=1.0)
    results = FORK.Queue()
    workers = [FORK.Process(target=wait_once, args=(make, key, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    state = pausing.state(key)[0]
    pausing.close()
    # Each worker saw the pause and had to wait (an idle limit grants its first slot at once) ...
    assert all(0.0 < paused_for <= 1.0 and wait > 0.0 for paused_for, wait in reports)
    # ... and their slots are the first two after it, one interval apart (on the backend's clock).
    assert state.tat(0) - state.paused_until == pytest.approx(2 * INTERVAL, abs=1e-6)
