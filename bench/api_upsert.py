"""API upsert throughput under a rate limit, and the unchanged re-run.

The sandbox enforces R requests/s; the hook's shared limiter paces at R too. The first run
creates N records (one request each: ``check_before_create=False``, safe because the sandbox
honours Idempotency-Key and answers 409 for a natural key that exists); the table compares its
time with N / R, the floor any client has. Then the same input again: it must send no request.
A run with a lookup before each create (two requests per new record) is shown for contrast.

    python bench/api_upsert.py                     # N = 2000, R = 100
    python bench/api_upsert.py --records 500 --rate 50
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine
from reliable_api.testing.sandbox.server import SandboxServer

CONN_ID = "bench_upsert"
#: The sandbox admits a few requests at once, as most APIs do; the client itself paces at R.
SANDBOX_BURST = 5


def records(count: int) -> list[dict[str, Any]]:
    """``count`` new contacts."""
    return [{"email": f"bench{n:06d}@example.com", "first_name": f"Bench {n}"} for n in range(count)]


def timed_run(state_url: str, count: int, *, lookup_first: bool) -> tuple[float, dict[str, int]]:
    """One upsert of ``count`` records; its seconds and counts."""
    engine = make_engine(state_url)
    store = DeadLetterStore(engine)
    spec = ApiResource(
        natural_key=("email",),
        create_path="/v1/contacts",
        update_path="/v1/contacts/{id}",
        lookup_path="/v1/contacts/search",
        check_before_create=lookup_first,
    )
    upserter = ApiUpserter(
        ReliableHttpHook(http_conn_id=CONN_ID),
        spec,
        Ledger(engine, "bench"),
        lambda key, payload, error: store.add("bench", key, payload, error),
    )
    started = time.perf_counter()
    counts = upserter.run(records(count)).to_dict()
    return time.perf_counter() - started, counts


def scenario(count: int, rate: float, *, lookup_first: bool) -> dict[str, Any]:
    """First run and unchanged re-run against a fresh sandbox and state DB."""
    with (
        SandboxServer(contacts=0, rate=rate, burst=SANDBOX_BURST) as sandbox,
        tempfile.TemporaryDirectory() as state,
    ):
        extra = {"limiter_backend": "memory", "rate_limit": f"{rate:g}/s", "burst": 1}
        conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
        state_url = f"sqlite:///{state}/state.db"
        first, counts = timed_run(state_url, count, lookup_first=lookup_first)
        before = sandbox.stats()["requests_total"]
        second, again = timed_run(state_url, count, lookup_first=lookup_first)
        stats = sandbox.stats()
        return {
            "first_s": first,
            "floor_s": counts["requests"] / rate,
            "created": counts["created"],
            "requests": counts["requests"],
            "rerun_s": second,
            "rerun_requests": stats["requests_total"] - before,
            "unchanged": again["unchanged"],
            "duplicates": stats["duplicate_creates"],
            "n_over_r": count / rate,
        }


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    print(f"N = {args.records} records, R = {args.rate:g} req/s, N/R = {args.records / args.rate:.1f} s")
    header = "scenario                 first run  vs N/R  requests  created  re-run  re-run requests  dups"
    print(header)
    for name, lookup_first in (("create with key", False), ("lookup, then create", True)):
        row = scenario(args.records, args.rate, lookup_first=lookup_first)
        print(
            f"{name:<24} {row['first_s']:8.1f} s  {row['first_s'] / row['n_over_r']:5.2f}x  "
            f"{row['requests']:8d}  {row['created']:7d}  {row['rerun_s']:5.2f} s  "
            f"{row['rerun_requests']:15d}  {row['duplicates']:4d}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
