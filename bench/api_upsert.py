"""API upsert throughput under a rate limit, and the unchanged re-run.

The sandbox enforces R requests/s; the hook's shared limiter paces at R too. Four ways to create
N new records, side by side, each against a fresh sandbox and state DB:

- single creates with a lookup first (the default ``check_before_create=True``): 2 N requests;
- single creates without the lookup (safe here: the sandbox honours Idempotency-Key and answers
  409 for a natural key that exists): N requests;
- batch creates (``POST /v1/contacts/batch``, ``batch_size`` records each) with a lookup first:
  N lookups + N / batch_size batches;
- batch creates without the lookup: N / batch_size requests.

The table compares each first run with N / R, the floor of one request per record. Then the same
input again: it must send no request.

    python bench/api_upsert.py                     # N = 2000, R = 100, batches of 100
    python bench/api_upsert.py --records 500 --rate 50 --batch-size 50
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


def timed_run(state_url: str, count: int, spec: ApiResource) -> tuple[float, dict[str, int]]:
    """One upsert of ``count`` records; its seconds and counts."""
    engine = make_engine(state_url)
    store = DeadLetterStore(engine)
    upserter = ApiUpserter(
        ReliableHttpHook(http_conn_id=CONN_ID),
        spec,
        Ledger(engine, "bench"),
        lambda key, payload, error: store.add("bench", key, payload, error),
    )
    started = time.perf_counter()
    counts = upserter.run(records(count)).to_dict()
    return time.perf_counter() - started, counts


def scenario(count: int, rate: float, spec: ApiResource) -> dict[str, Any]:
    """First run and unchanged re-run against a fresh sandbox and state DB."""
    with (
        SandboxServer(contacts=0, rate=rate, burst=SANDBOX_BURST) as sandbox,
        tempfile.TemporaryDirectory() as state,
    ):
        extra = {"limiter_backend": "memory", "rate_limit": f"{rate:g}/s", "burst": 1}
        conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
        state_url = f"sqlite:///{state}/state.db"
        first, counts = timed_run(state_url, count, spec)
        before = sandbox.stats()["requests_total"]
        second, again = timed_run(state_url, count, spec)
        stats = sandbox.stats()
        return {
            "first_s": first,
            "created": counts["created"],
            "requests": counts["requests"],
            "rerun_s": second,
            "rerun_requests": stats["requests_total"] - before,
            "unchanged": again["unchanged"],
            "duplicates": stats["duplicate_creates"],
            "n_over_r": count / rate,
        }


def specs(batch_size: int) -> dict[str, ApiResource]:
    """The four ways to create, by name."""
    common: dict[str, Any] = {
        "natural_key": ("email",),
        "create_path": "/v1/contacts",
        "update_path": "/v1/contacts/{id}",
        "lookup_path": "/v1/contacts/search",
    }
    batch = {"batch_create_path": "/v1/contacts/batch", "batch_size": batch_size}
    return {
        "single, lookup first": ApiResource(**common, check_before_create=True),
        "single, no lookup": ApiResource(**common, check_before_create=False),
        "batch, lookup first": ApiResource(**common, **batch, check_before_create=True),
        "batch, no lookup": ApiResource(**common, **batch, check_before_create=False),
    }


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    print(
        f"N = {args.records} records, R = {args.rate:g} req/s, N/R = {args.records / args.rate:.1f} s, "
        f"batches of {args.batch_size}"
    )
    header = "scenario                 first run  vs N/R  requests  created  re-run  re-run requests  dups"
    print(header)
    for name, spec in specs(args.batch_size).items():
        row = scenario(args.records, args.rate, spec)
        print(
            f"{name:<24} {row['first_s']:8.1f} s  {row['first_s'] / row['n_over_r']:5.2f}x  "
            f"{row['requests']:8d}  {row['created']:7d}  {row['rerun_s']:5.2f} s  "
            f"{row['rerun_requests']:15d}  {row['duplicates']:4d}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
