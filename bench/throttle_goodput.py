"""Goodput under a shared rate limit: this provider's hook against the peers, side by side.

Two limiters enforce R requests/s with no tolerance: the sandbox (GCRA, burst 1, R = 50) and
nginx ``limit_req`` without ``burst`` (R = 20, Debian's nginx-light, installed when missing) in
front of a static file. Worker processes call it for a fixed time through each client; the table
shows goodput (2xx per second, and as a share of R), 429s, failed calls (errors that reached the
caller after the client's own retries), the highest rate admitted in any 1-second window, and
requests sent before a 429's Retry-After had passed (sandbox only). ``reference`` is 15 lines of
requests + time.sleep to an absolute schedule, one process: what this machine allows. The
``two-windows`` row adds a second nginx zone, 300/min with ``burst=300``, and runs 3 minutes;
its ``xR`` is against the most a perfect client could get (the burst, then 5/s).

    python bench/throttle_goodput.py                 # every scenario, 30 s each
    python bench/throttle_goodput.py --duration 10 --only ours-redis httphook
    python bench/throttle_goodput.py --only nginx-reference nginx-ours-1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reliable_api.testing.nginx import NginxServer, Zone
from reliable_api.testing.sandbox.server import SandboxServer

PATH = "/v1/contacts/con_000001"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Scenario:
    """One row of the table: a client, how it is configured, and what the sandbox sends."""

    name: str
    client: str
    rate_factor: float = 1.0
    backend: str = "memory"
    adaptive: bool = False
    sandbox: dict[str, Any] = field(default_factory=dict)
    nginx: tuple[Zone, ...] = ()  # in front of a static file instead of the sandbox
    workers: int | None = None  # None: --workers
    duration: float | None = None  # None: --duration
    quota: str = ""  # windows after the first, added to rate_limit: ", 300/min"
    aimd: dict[str, float] = field(default_factory=dict)  # Aimd fields other than the defaults


NGINX_RATE = 20.0
STRICT = Zone("api", f"{NGINX_RATE:g}r/s")
QUOTA = Zone("quota", "300r/m", burst=300)


SCENARIOS = (
    Scenario("httphook", "httphook"),
    Scenario("httphook-advanced-retry", "httphook_retry"),
    Scenario("requests-urllib3-retry", "urllib3"),
    Scenario("dlt-rest-client", "dlt"),
    Scenario("ours-sqlite", "ours", backend="sqlite", adaptive=True),
    Scenario("ours-postgres", "ours", backend="postgres", adaptive=True),
    Scenario("ours-redis", "ours", backend="redis", adaptive=True),
    Scenario("ours-redis-2R-adaptive", "ours", rate_factor=2.0, backend="redis", adaptive=True),
    Scenario(
        "ours-redis-2R-adaptive-no-headers",
        "ours",
        rate_factor=2.0,
        backend="redis",
        adaptive=True,
        sandbox={"retry_after": False, "ratelimit_headers": False, "legacy_headers": False},
    ),
    Scenario("nginx-reference", "reference", nginx=(STRICT,), workers=1),
    Scenario("nginx-reference-0.97R", "reference", rate_factor=0.97, nginx=(STRICT,), workers=1),
    Scenario("nginx-ours-1", "ours", backend="sqlite", adaptive=True, nginx=(STRICT,), workers=1),
    Scenario("nginx-ours-1-fixed", "ours", backend="sqlite", nginx=(STRICT,), workers=1),
    Scenario("nginx-ours-sqlite", "ours", backend="sqlite", adaptive=True, nginx=(STRICT,)),
    Scenario("nginx-ours-postgres", "ours", backend="postgres", adaptive=True, nginx=(STRICT,)),
    Scenario("nginx-ours-redis", "ours", backend="redis", adaptive=True, nginx=(STRICT,)),
    Scenario(
        "nginx-ours-redis-2R-adaptive",
        "ours",
        rate_factor=2.0,
        backend="redis",
        adaptive=True,
        nginx=(STRICT,),
    ),
    # The same with a smaller hold after a late answer (1 ms at 20/s instead of 5 ms).
    Scenario(
        "nginx-ours-sqlite-hold-2pct",
        "ours",
        backend="sqlite",
        adaptive=True,
        nginx=(STRICT,),
        aimd={"hold": 0.02},
    ),
    Scenario(
        "nginx-ours-redis-hold-2pct",
        "ours",
        backend="redis",
        adaptive=True,
        nginx=(STRICT,),
        aimd={"hold": 0.02},
    ),
    Scenario(
        "nginx-two-windows-redis",
        "ours",
        backend="redis",
        adaptive=True,
        nginx=(STRICT, QUOTA),
        duration=180.0,
        quota=", 300/min",
    ),
)


def make_caller(scenario: Scenario, url: str, rate: float, run_id: str = "") -> Callable[[], bool]:
    """A function that makes one call through the scenario's client; True when it got a 2xx."""
    if scenario.client == "reference":
        import requests

        session = requests.Session()
        interval, schedule = 1 / (rate * scenario.rate_factor), [0.0]

        def on_schedule() -> bool:
            now = time.monotonic()
            schedule[0] = schedule[0] or now
            if schedule[0] > now:
                time.sleep(schedule[0] - now)
            schedule[0] += interval
            return bool(session.get(url + PATH, timeout=30).ok)

        return on_schedule
    if scenario.client in ("httphook", "httphook_retry"):
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="GET", http_conn_id="bench_http")
        if scenario.client == "httphook":
            return lambda: hook.run(PATH).ok
        import tenacity

        # The retry policy of the http provider's documentation example.
        retry_args = {
            "wait": tenacity.wait_exponential(),
            "stop": tenacity.stop_after_attempt(10),
            "retry": tenacity.retry_if_exception_type(Exception),
        }
        return lambda: hook.run_with_advanced_retry(retry_args, PATH).ok
    if scenario.client == "urllib3":
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        session = requests.Session()
        retry = Retry(
            total=10,
            backoff_factor=0.5,
            status_forcelist=[429, 500, 502, 503, 504],
            respect_retry_after_header=True,
        )
        session.mount("http://", HTTPAdapter(max_retries=retry))
        return lambda: session.get(url + PATH, timeout=30).ok
    if scenario.client == "dlt":
        from dlt.sources.helpers.rest_client import RESTClient

        client = RESTClient(base_url=url)
        return lambda: client.get(PATH).ok
    from reliable_api.hooks.http import ReliableHttpHook

    if scenario.aimd:  # this worker process's limiters only
        from reliable_api.throttle.aimd import Aimd
        from reliable_api.throttle.limiter import SharedRateLimiter

        defaults = SharedRateLimiter.__init__.__kwdefaults__
        defaults["aimd"] = Aimd(**scenario.aimd)  # type: ignore[arg-type]
    # A limit key of its own per run: the shared state of an earlier run must not carry over.
    hook = ReliableHttpHook(method="GET", http_conn_id="bench_reliable", limit_key=run_id)
    return lambda: hook.run(PATH).ok


def worker(scenario: Scenario, url: str, rate: float, run_id: str, ready: Any, failed: Any) -> None:
    """Call as fast as the client lets us until the parent ends the process."""
    call = make_caller(scenario, url, rate, run_id)
    ready.wait()  # every worker has imported its client: start the clock together
    while True:
        try:
            succeeded = call()
        except Exception:  # any error reaching the caller is a failed call
            succeeded = False
        if not succeeded:
            with failed.get_lock():
                failed.value += 1


def connection_env(scenario: Scenario, url: str, rate: float, pg_url: str, state_dir: str) -> dict[str, str]:
    extra = {
        "rate_limit": f"{rate * scenario.rate_factor:g}/s{scenario.quota}",
        "burst": 1,
        "limiter_backend": scenario.backend,
        "adaptive": scenario.adaptive,
        "limiter_conn_id": {"postgres": "bench_pg", "redis": "bench_redis"}.get(scenario.backend),
    }
    return {
        "AIRFLOW_CONN_BENCH_HTTP": json.dumps({"conn_type": "http", "host": url}),
        "AIRFLOW_CONN_BENCH_RELIABLE": json.dumps(
            {"conn_type": "reliable_http", "host": url, "extra": extra}
        ),
        "AIRFLOW_CONN_BENCH_PG": pg_url,
        "AIRFLOW_CONN_BENCH_REDIS": REDIS_URL,
        "RELIABLE_API_STATE_DIR": state_dir,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(scenario: Scenario, *, rate: float, workers: int, duration: float, pg_url: str) -> dict[str, Any]:
    if scenario.nginx:
        return run_nginx(
            scenario,
            workers=scenario.workers or workers,
            duration=scenario.duration or duration,
            pg_url=pg_url,
        )
    with (
        SandboxServer(rate=rate, burst=1, **scenario.sandbox) as sandbox,
        tempfile.TemporaryDirectory() as state,
    ):
        os.environ.update(connection_env(scenario, sandbox.url, rate, pg_url, state))
        processes, ready, failed = start_workers(scenario, sandbox.url, rate, workers)
        ready.wait()
        sandbox.reset()
        # Calls still inside a client's retry loop when time is up are neither good nor failed:
        # the window is what counts, as it would for a task with a deadline.
        time.sleep(duration)
        stats = sandbox.stats()
        failed_calls = failed.value
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
    ok = stats["responses_2xx"]
    requests_sent = stats["requests_total"]
    return {
        "scenario": scenario.name,
        "goodput": ok / duration,
        "goodput_ratio": ok / duration / rate,
        "429s": stats["rate_limited"],
        "429_share": stats["rate_limited"] / requests_sent if requests_sent else 0.0,
        "failed_calls": failed_calls,
        "max_admitted_1s": stats["max_admitted_per_second"],
        "early_after_retry_after": stats["early_requests_after_retry_after"],
    }


def start_workers(scenario: Scenario, url: str, rate: float, workers: int) -> tuple[list[Any], Any, Any]:
    ready = mp.Barrier(workers + 1)
    run_id = uuid.uuid4().hex
    failed = mp.Value("l", 0)
    processes = [
        mp.Process(target=worker, args=(scenario, url, rate, run_id, ready, failed), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    return processes, ready, failed


def run_nginx(scenario: Scenario, *, workers: int, duration: float, pg_url: str) -> dict[str, Any]:
    rate = NGINX_RATE
    with (
        NginxServer(scenario.nginx, path=PATH, port=free_port()) as nginx,
        tempfile.TemporaryDirectory() as state,
    ):
        os.environ.update(connection_env(scenario, nginx.url, rate, pg_url, state))
        processes, ready, failed = start_workers(scenario, nginx.url, rate, workers)
        ready.wait()
        start = time.time()
        time.sleep(duration)
        end = time.time()
        failed_calls = failed.value
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
        time.sleep(0.2)  # the last log lines
        stats = nginx.stats(start, end)
        nginx_rows = nginx.arrivals()  # from the first request: the zones' state starts there
    ok, sent = stats["responses_2xx"], stats["requests_total"]
    ideal = rate * duration
    if QUOTA in scenario.nginx:  # the quota's burst, then its rate (5/s) binds
        ideal = min(ideal, QUOTA.burst + 1 + 5.0 * duration)
    return {
        "scenario": scenario.name,
        "workers": workers,
        "duration": duration,
        "goodput": ok / duration,
        "goodput_ratio": ok / ideal,
        "429s": stats["rate_limited"],
        "429_share": stats["rate_limited"] / sent if sent else 0.0,
        "failed_calls": failed_calls,
        "max_admitted_1s": stats["max_admitted_per_second"],
        "max_admitted_60s": max_in_window(stats["admitted_times"], 60.0),
        "refused_by_zone": zone_refusals(nginx_rows, scenario.nginx),
        "gap_p1_ms": stats["gap_p1_ms"],
        "gap_p5_ms": stats["gap_p5_ms"],
        "early_after_retry_after": 0,
    }


def zone_refusals(arrivals: list[tuple[int, float]], zones: tuple[Zone, ...]) -> dict[str, int]:
    """Which zone refused each request, by replaying nginx's limit_req arithmetic on the log.

    nginx keeps per zone an excess in thousandths of a request and the last admitted time in ms;
    a request refused by any zone changes none. Returns the refusals per zone, plus "mismatch":
    requests whose replayed verdict differs from the status nginx logged (the log's time is when
    the answer was written, a millisecond or so after the check).
    """
    per_second = {"s": 1, "m": 60}
    rates = [int(zone.rate[:-3]) * 1000 // per_second[zone.rate[-1]] for zone in zones]
    state: list[tuple[int, int] | None] = [None] * len(zones)  # (excess, last ms)
    refused = dict.fromkeys([zone.name for zone in zones] + ["mismatch"], 0)
    for status, at in arrivals:
        now, verdicts, updates = round(at * 1000), [], []
        for index, zone in enumerate(zones):
            if state[index] is None:
                updates.append((0, now))
                continue
            excess, last = state[index]  # type: ignore[misc]
            excess = max(0, excess - rates[index] * abs(now - last) // 1000 + 1000)
            if excess > zone.burst * 1000:
                verdicts.append(zone.name)
                break
            updates.append((excess, now))
        if verdicts:
            refused[verdicts[0]] += 1
        else:
            state = list(updates)
        refused["mismatch"] += (status == 429) != bool(verdicts)
    return refused


def max_in_window(times: list[float], seconds: float) -> int:
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def create_postgres_db() -> str:
    import psycopg2

    name = f"reliable_api_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_postgres_db(url: str) -> None:
    import psycopg2

    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0, help="R, the sandbox's limit (req/s)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per scenario")
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    pg_url = create_postgres_db()
    rows = []
    try:
        columns = ("goodput/s", "xR", "429s", "429%", "failed", "max1s", "early")
        header = f"{'scenario':36} " + " ".join(f"{c:>{max(6, len(c))}}" for c in columns)
        print(
            f"sandbox R = {args.rate:g} req/s, nginx R = {NGINX_RATE:g} req/s, burst 1, "
            f"{args.workers} processes unless named, {args.duration:g} s each unless named; "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n{header}"
        )
        for scenario in chosen:
            row = run(scenario, rate=args.rate, workers=args.workers, duration=args.duration, pg_url=pg_url)
            rows.append(row)
            print(
                f"{row['scenario']:36} {row['goodput']:9.1f} {row['goodput_ratio']:6.3f} {row['429s']:6d} "
                f"{row['429_share']:6.1%} {row['failed_calls']:7d} {row['max_admitted_1s']:6d} "
                f"{row['early_after_retry_after']:6d}"
                + (
                    f"  ({row['workers']} proc, {row['duration']:g} s, max60s {row['max_admitted_60s']}, "
                    f"gap p1/p5 {row['gap_p1_ms']}/{row['gap_p5_ms']} ms, "
                    f"refused by zone (replayed) {row['refused_by_zone']})"
                    if "workers" in row
                    else ""
                )
                + f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    finally:
        drop_postgres_db(pg_url)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
