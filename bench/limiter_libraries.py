"""The well-kept rate-limiting libraries against the bar of issue 3, beside our own limiter.

For each library and store, in one run:

- exactness: 8 processes hammer one key limited to 50/s with non-blocking acquires; the table
  shows how many were admitted, and the most admitted in any 1-second window (on the workers'
  clocks) against what the algorithm allows in one (a store that races over-admits);
- cost: p50 and p99 of one acquire with 8 processes, under a limit so high that all are admitted;
- what the API offers for a shared limit (read from the libraries, not measured): a shared
  pause, a shared rate that can be lowered at run time, and a reservation that takes the next
  slot only if it comes within ``max_wait`` (so a caller that defers holds no slot).

    python bench/limiter_libraries.py                # every candidate, about 2.5 + 2 s each
    python bench/limiter_libraries.py --only ours-redis pyrate-gcra-redis

Needs the bench extra (pyrate-limiter, limits), plus filelock (pyrate's multi-process SQLite
bucket) and psycopg-pool (pyrate's Postgres bucket); a candidate whose package is missing gets a
row saying so. Postgres and Redis are the test suite's services (see limiter_cost.py).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from limiter_cost import PREFIX, REDIS_URL, Build, delete_redis_keys, run_processes, scratch_postgres
from reliable_api.throttle.postgres import PostgresBackend
from reliable_api.throttle.redis import RedisBackend
from reliable_api.throttle.sqlite import SqliteBackend

RATE = 50  # per second, the sandbox's R in issue 3
HUGE = 1_000_000  # per second: every acquire of the cost run is admitted


@dataclass(frozen=True)
class Where:
    """The stores of one run: a Postgres URL, an SQLite folder, and a key unique to the run."""

    postgres: str
    folder: str
    run: str


@dataclass(frozen=True)
class Candidate:
    """One library with one store.

    :param make: ``make(where, limit, key)`` builds, in a worker, a non-blocking acquire that
        returns whether it was admitted, for ``limit`` per second.
    :param window_allowance: the most the algorithm admits in any 1-second window at ``RATE``.
    """

    name: str
    make: Callable[[Where, int, str], Callable[[], object]]
    window_allowance: int
    pause: str
    adjustable: str
    reserve: str
    clock: str


def ours(store: str) -> Callable[[Where, int, str], Callable[[], object]]:
    def make(where: Where, limit: int, key: str) -> Callable[[], object]:
        if store == "sqlite":
            backend: SqliteBackend | PostgresBackend | RedisBackend = SqliteBackend(
                os.path.join(where.folder, "ours.sqlite")
            )
        elif store == "postgres":
            backend = PostgresBackend(where.postgres)
        else:
            backend = RedisBackend(REDIS_URL, prefix=PREFIX)
        return lambda: backend.reserve(key, interval=1 / limit, burst=1, max_wait=0).granted

    return make


def pyrate(store: str) -> Callable[[Where, int, str], Callable[[], object]]:
    def make(where: Where, limit: int, key: str) -> Callable[[], object]:
        import pyrate_limiter as pl

        if store == "gcra-redis":
            import redis

            rates = [pl.Rate(limit, pl.Duration.SECOND, burst=1)]
            store_ = pl.RedisStateStore(redis.Redis.from_url(REDIS_URL), f"{PREFIX}{key}")
            bucket: pl.AbstractBucket = pl.StateBucket(rates, algorithm=pl.GCRA(), store=store_)
        elif store == "log-redis":
            import redis

            bucket = pl.RedisBucket.init(
                [pl.Rate(limit, pl.Duration.SECOND)], redis.Redis.from_url(REDIS_URL), f"{PREFIX}{key}"
            )
        elif store == "log-postgres":
            from psycopg_pool import ConnectionPool

            pool = ConnectionPool(
                where.postgres.replace("postgresql+psycopg2", "postgresql"), min_size=1, max_size=1
            )
            bucket = pl.PostgresBucket(pool, f"bench_{where.run}", [pl.Rate(limit, pl.Duration.SECOND)])
        else:
            path = os.path.join(where.folder, "pyrate.sqlite")
            bucket = pl.SQLiteBucket.init_from_file(
                [pl.Rate(limit, pl.Duration.SECOND)], db_path=path, use_file_lock=True
            )
        limiter = pl.Limiter(bucket)
        return lambda: limiter.try_acquire(key, blocking=False)

    return make


def limits_redis(strategy: str) -> Callable[[Where, int, str], Callable[[], object]]:
    def make(where: Where, limit: int, key: str) -> Callable[[], object]:
        from limits import RateLimitItemPerSecond, storage, strategies

        limiter = getattr(strategies, strategy)(storage.storage_from_string(REDIS_URL))
        item = RateLimitItemPerSecond(limit)
        return lambda: limiter.hit(item, f"{PREFIX}{key}")

    return make


NO_PAUSE = "no"
RATE_IN_CODE = "no: each process's Rate objects"
PYRATE_WAIT = "no: blocking polls and sleeps; non-blocking + waiting() reserves nothing"
LIMITS_WAIT = "no: hit/test, and the window's reset time"
CANDIDATES = (
    Candidate("ours-sqlite", ours("sqlite"), RATE + 1, "yes", "yes (AIMD, policy)", "yes", "one machine's"),
    Candidate("ours-postgres", ours("postgres"), RATE + 1, "yes", "yes (AIMD, policy)", "yes", "server"),
    Candidate("ours-redis", ours("redis"), RATE + 1, "yes", "yes (AIMD, policy)", "yes", "server"),
    Candidate(
        "pyrate-gcra-redis", pyrate("gcra-redis"), RATE + 1, NO_PAUSE, RATE_IN_CODE, PYRATE_WAIT, "client"
    ),
    Candidate("pyrate-log-redis", pyrate("log-redis"), RATE, NO_PAUSE, RATE_IN_CODE, PYRATE_WAIT, "client"),
    Candidate(
        "pyrate-log-postgres",
        pyrate("log-postgres"),
        RATE,
        NO_PAUSE,
        RATE_IN_CODE,
        PYRATE_WAIT,
        "server (+1 query)",
    ),
    Candidate("pyrate-log-sqlite", pyrate("log-sqlite"), RATE, NO_PAUSE, RATE_IN_CODE, PYRATE_WAIT, "client"),
    Candidate(
        "limits-moving-redis",
        limits_redis("MovingWindowRateLimiter"),
        RATE,
        NO_PAUSE,
        "no",
        LIMITS_WAIT,
        "client",
    ),
    Candidate(
        "limits-fixed-redis",
        limits_redis("FixedWindowRateLimiter"),
        2 * RATE,
        NO_PAUSE,
        "no",
        LIMITS_WAIT,
        "server",
    ),
    Candidate(
        "limits-sliding-redis",
        limits_redis("SlidingWindowCounterRateLimiter"),
        RATE,
        NO_PAUSE,
        "no",
        LIMITS_WAIT,
        "client",
    ),
)


def most_in_one_second(times: list[float]) -> int:
    """The most timestamps that fall in any window of one second."""
    return max((bisect_right(times, start + 1.0) - index for index, start in enumerate(times)), default=0)


@contextmanager
def stores() -> Iterator[Where]:
    with ExitStack() as stack:
        url = stack.enter_context(scratch_postgres())
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        try:
            yield Where(postgres=url, folder=folder, run=uuid.uuid4().hex[:8])
        finally:
            delete_redis_keys(f"*{PREFIX}*")


def build(candidate: Candidate, where: Where, limit: int, key: str) -> Build:
    return lambda: candidate.make(where, limit, key)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.5, help="seconds of each exactness run")
    parser.add_argument("--cost-seconds", type=float, default=2.0, help="seconds of each cost run")
    parser.add_argument("--processes", type=int, default=8)
    names = [candidate.name for candidate in CANDIDATES]
    parser.add_argument("--only", nargs="*", choices=names, default=names)
    args = parser.parse_args()
    print(
        f"{args.processes} processes, {os.cpu_count()} CPUs; exactness at {RATE}/s for {args.seconds:g} s "
        f"after 0.2 s of warm-up, cost at {HUGE}/s for {args.cost_seconds:g} s"
    )
    header = (
        f"{'candidate':22} {'admitted':>8} {'max 1 s':>8} {'allows':>6} {'p50':>9} {'p99':>9} {'calls/s':>8}"
    )
    print(f"{header}  shared pause | adjustable shared rate | reserve within max_wait | clock")
    with stores() as where:
        for candidate in CANDIDATES:
            if candidate.name not in args.only:
                continue
            try:
                exact = run_processes(
                    build(candidate, where, RATE, f"exact-{candidate.name}"),
                    processes=args.processes,
                    seconds=args.seconds,
                    record_grants=True,
                )
                cost = run_processes(
                    build(candidate, where, HUGE, f"cost-{candidate.name}"),
                    processes=args.processes,
                    seconds=args.cost_seconds,
                )
            except Exception as error:  # a missing package or service gets a row, not a traceback
                print(f"{candidate.name:22} not measured: {type(error).__name__}: {error}")
                continue
            print(
                f"{candidate.name:22} {len(exact.grants):8d} {most_in_one_second(exact.grants):8d} "
                f"{candidate.window_allowance:6d} {cost.percentile(0.5) * 1e6:7.0f}µs "
                f"{cost.percentile(0.99) * 1e6:7.0f}µs {cost.calls_per_second:8.0f}  "
                f"{candidate.pause} | {candidate.adjustable} | {candidate.reserve} | {candidate.clock}"
            )


if __name__ == "__main__":
    main()
