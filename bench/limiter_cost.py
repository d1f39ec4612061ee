"""Cost of one ``SharedRateLimiter.acquire`` per backend, with 8 processes acquiring at once.

Every process calls ``acquire(max_wait=0)`` on one shared key as fast as it can, at a rate so
high that nothing ever waits, so each call is one full backend decision (read, decide, write).
The table shows p50 and p99 per call against the bar of issue 3 (p50, 8 processes).

    python bench/limiter_cost.py                  # every backend, 4 s each
    python bench/limiter_cost.py --seconds 2 --only redis postgres

Postgres (a scratch database, dropped after) and Redis (keys under a unique prefix, deleted
after) are the services of the test suite; a backend whose service is down gets a row saying so.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reliable_api.core.rates import Rate
from reliable_api.throttle.factory import make_backend
from reliable_api.throttle.limiter import SharedRateLimiter

PG_ADMIN = os.environ.get("RELIABLE_API_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RELIABLE_API_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PREFIX = f"reliable_api_bench:{uuid.uuid4().hex[:8]}:"

#: p50 per acquire that issue 3 sets, in seconds.
BAR = {"memory": 20e-6, "sqlite": 3e-3, "postgres": 3e-3, "redis": 1e-3}

# Forked: the workers inherit the imports above instead of spending seconds importing Airflow.
FORK = multiprocessing.get_context("fork")

#: Builds, inside a worker process, the call to time; it returns whether it was admitted.
Build = Callable[[], Callable[[], object]]


@dataclass
class Sample:
    """What the worker processes of one run measured."""

    latencies: array[int]  # nanoseconds per call, every call of every process
    grants: list[float]  # wall-clock time of each admitted call, when recorded
    seconds: float

    def percentile(self, share: float) -> float:
        """The latency below which ``share`` of the calls fell, in seconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e9

    @property
    def calls_per_second(self) -> float:
        """Calls of all processes per second."""
        return len(self.latencies) / self.seconds


def _worker(build: Build, seconds: float, record_grants: bool, start, results) -> None:  # type: ignore[no-untyped-def]
    try:
        call = build()
        warm_until = time.perf_counter() + 0.2
        while time.perf_counter() < warm_until:
            call()
    except Exception as error:
        results.put(f"{type(error).__name__}: {error}")
        return
    results.put("ready")
    start.wait()
    latencies, grants = array("q"), []
    clock, end = time.perf_counter_ns, time.perf_counter() + seconds
    while time.perf_counter() < end:
        began = clock()
        admitted = call()
        latencies.append(clock() - began)
        if record_grants and admitted:
            grants.append(time.time())
    results.put((latencies.tobytes(), grants))


def run_processes(build: Build, *, processes: int, seconds: float, record_grants: bool = False) -> Sample:
    """Run ``build()``'s call in ``processes`` forked processes for ``seconds``, all at once."""
    start, results = FORK.Event(), FORK.Queue()
    workers = [
        FORK.Process(target=_worker, args=(build, seconds, record_grants, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        message = results.get(timeout=60)
        if message != "ready":
            for worker in workers:
                worker.terminate()
            raise RuntimeError(message)
    start.set()
    latencies, grants = array("q"), []
    for _ in workers:
        raw, admitted = results.get(timeout=60 + seconds)
        latencies.frombytes(raw)
        grants.extend(admitted)
    for worker in workers:
        worker.join(timeout=10)
    return Sample(latencies=latencies, grants=sorted(grants), seconds=seconds)


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A scratch database on the bench's Postgres server, dropped afterwards."""
    import psycopg2

    name = f"reliable_api_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def delete_redis_keys(pattern: str) -> None:
    """Delete what a run left in Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=pattern))
    if keys:
        client.delete(*keys)
    client.close()


def acquire_call(backend_name: str, location: str) -> Build:
    """An ``acquire(max_wait=0)`` of a limiter on ``backend_name``, built in the worker."""

    def build() -> Callable[[], object]:
        if backend_name == "sqlite":
            backend = make_backend("sqlite", path=location)
        elif backend_name == "memory":
            backend = make_backend("memory")
        else:
            backend = make_backend(backend_name, url=location, prefix=PREFIX)
        # 10^9 per second: no acquire ever waits, every one is a full decision and write.
        limiter = SharedRateLimiter(backend, "bench:cost", Rate(count=1e9, period=1), burst=1000)
        return lambda: limiter.acquire(max_wait=0)

    return build


def measure(name: str, *, processes: int, seconds: float) -> Sample:
    """One backend's run."""
    if name == "postgres":
        with scratch_postgres() as url:
            return run_processes(acquire_call(name, url), processes=processes, seconds=seconds)
    if name == "redis":
        try:
            return run_processes(acquire_call(name, REDIS_URL), processes=processes, seconds=seconds)
        finally:
            delete_redis_keys(f"{PREFIX}*")
    with tempfile.TemporaryDirectory() as folder:
        return run_processes(
            acquire_call(name, os.path.join(folder, "limiter.sqlite")), processes=processes, seconds=seconds
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per backend")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--only", nargs="*", choices=list(BAR), default=list(BAR))
    args = parser.parse_args()
    print(f"{args.processes} processes, {args.seconds:g} s per backend, {os.cpu_count()} CPUs")
    print(f"{'backend':10} {'calls/s':>10} {'p50':>10} {'p99':>10} {'bar (p50)':>10} {'p50/bar':>8}")
    for name in args.only:
        try:
            sample = measure(name, processes=args.processes, seconds=args.seconds)
        except Exception as error:  # a service that is down gets a row, not a traceback
            print(f"{name:10} not measured: {type(error).__name__}: {error}")
            continue
        p50, p99 = sample.percentile(0.5), sample.percentile(0.99)
        print(
            f"{name:10} {sample.calls_per_second:10.0f} {p50 * 1e6:8.1f}µs {p99 * 1e6:8.1f}µs "
            f"{BAR[name] * 1e6:8.0f}µs {p50 / BAR[name]:8.2f}"
        )


if __name__ == "__main__":
    main()
