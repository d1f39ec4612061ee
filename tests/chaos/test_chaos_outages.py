"""The state DB, then Redis, gone mid-run under a real scheduler: a clear failure, then the retry finishes.

``outage_pipeline`` (``dags/``: extract -> validate -> upsert into a marketing API -> upsert into
an ads API) runs in ``airflow standalone`` (LocalExecutor). Its ledger and dead letters live in a
PostgreSQL database of this test's own (the ``reliable_api_state`` connection), its two API
limits in a ``redis-server`` of this test's own. While the first upsert runs, the database stops
taking connections and its sessions are terminated (to its clients, the server is gone); once that
try has failed, the database comes back. While the second upsert runs, Redis is killed (SIGKILL);
once that try has failed, a new Redis starts on the same port. Then, exactly:

- each outage failed the running try (within bounds: no hang) with an error naming what went away,
  and sent an alert for it;
- nothing was recorded as done that was not: every ledger row marked created names a record the
  API holds, and no pending intent is left;
- Airflow's retry finished the work: each target + dead letters = source, no natural key created
  twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from test_chaos_pipeline import everything

from demo.stack import DemoStack, free_port
from reliable_api.state.schema import dead_letters, ledger
from reliable_api.testing.sandbox.server import SandboxServer
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_service, running_in_ci

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DAG_ID = "outage_pipeline"
CONTACTS = 200
TOKEN = "tok_outage_7c1f"
#: The upserts' integrations (one ledger each) and their connections' target sandboxes.
TARGETS = {"push_marketing": "outage_marketing", "push_ads": "outage_ads"}
#: How long a try may take to notice an outage and fail: the hook's retries are bounded.
FAIL_WITHIN = 120.0


class StateDatabase:
    """A PostgreSQL database of the test's own, which it can take away and give back."""

    def __init__(self) -> None:
        import psycopg2

        self.name = f"reliable_api_outage_{uuid.uuid4().hex[:10]}"
        self._admin = psycopg2.connect(
            host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", dbname="postgres"
        )
        self._admin.autocommit = True
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql+psycopg2://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{self.name}"

    def _sql(self, statement: str, *args: object) -> None:
        with self._admin.cursor() as cursor:
            cursor.execute(statement, args)

    def stop(self) -> None:
        """Refuse new connections and end the open ones: to its clients, the server is gone."""
        self._sql(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
        self._sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", self.name)

    def start(self) -> None:
        self._sql(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()


class RedisServer:
    """A ``redis-server`` of the test's own on a free port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self._process = subprocess.Popen(
            [*command, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._answers, 30, f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def _answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.2)


@pytest.fixture
def state_db() -> Iterator[StateDatabase]:
    require_service("PostgreSQL", POSTGRES_HOST, int(POSTGRES_PORT))
    database = StateDatabase()
    try:
        yield database
    finally:
        database.start()
        database.drop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if running_in_ci():
            pytest.fail("redis-server is not installed; under CI=true it is required")
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def api_connection(url: str, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "reliable_http",
            "host": url,
            "extra": {
                "Authorization": f"Bearer {TOKEN}",
                "rate_limit": "20/sec",
                "burst": 5,
                "max_retries": 3,
                "backoff_base": 0.05,
                "backoff_cap": 1.0,
                **extra,
            },
        }
    )


def try_of(api: httpx.Client, run_id: str, task_id: str) -> tuple[int, str | None]:
    """The task's current try number and state."""
    answer = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")
    if not answer.is_success:  # the demo's busy SQLite: ask again
        return 0, None
    body = answer.json()
    return int(body["try_number"]), body["state"]


def first_try_failed(api: httpx.Client, run_id: str, task_id: str) -> Callable[[], bool]:
    def failed() -> bool:
        number, state = try_of(api, run_id, task_id)
        return number > 1 or state in ("up_for_retry", "failed")

    return failed


def test_state_db_then_redis_gone_mid_run_fail_the_try_clearly_and_the_retry_finishes(
    state_db: StateDatabase, redis_server: RedisServer, tmp_path: Path
) -> None:
    with (
        SandboxServer(contacts=CONTACTS, seed=21, api_keys=[TOKEN]) as crm,
        SandboxServer(contacts=0, seed=22, api_keys=[TOKEN], rate=20.0, burst=5) as marketing,
        SandboxServer(contacts=0, seed=23, api_keys=[TOKEN], rate=20.0, burst=5) as ads,
    ):
        limit = {"limiter_backend": "redis", "limiter_conn_id": "outage_redis"}
        stack = DemoStack(
            home=tmp_path / "airflow",
            airflow_port=free_port(),
            sandbox_port=free_port(),  # its sandbox is the alerts' sink here
            dags_folder=Path(__file__).parent / "dags",
            extra_env={
                "AIRFLOW_CONN_RELIABLE_API_SANDBOX": api_connection(crm.url, limiter_backend="memory"),
                "AIRFLOW_CONN_RELIABLE_API_MARKETING": api_connection(marketing.url, **limit),
                "AIRFLOW_CONN_RELIABLE_API_ADS": api_connection(ads.url, **limit),
                "AIRFLOW_CONN_OUTAGE_REDIS": redis_server.url,
                "AIRFLOW_CONN_RELIABLE_API_STATE": json.dumps(
                    {"conn_type": "postgres", "extra": {"sqlalchemy_url": state_db.url}}
                ),
            },
        )
        with stack, stack.api_client() as api:
            run_id = stack.trigger(DAG_ID)
            # The state DB goes away while the marketing upsert writes its ledger.
            wait_until(lambda: marketing.stats()["creates_total"] >= 20, 400, "the marketing upsert")
            state_db.stop()
            wait_until(first_try_failed(api, run_id, "push_marketing"), FAIL_WITHIN, "the try to fail")
            state_db.start()
            # Redis goes away while the ads upsert takes slots from it.
            wait_until(lambda: ads.stats()["creates_total"] >= 20, 300, "the ads upsert")
            redis_server.kill()
            wait_until(first_try_failed(api, run_id, "push_ads"), FAIL_WITHIN, "the try to fail")
            redis_server.start()
            state = stack.wait_for_run(DAG_ID, run_id, timeout=300)
            tries = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
            received = httpx.get(f"{stack.sandbox_url}/_sandbox/webhook/alerts", timeout=10).json()["data"]

        assert state == "success", [(t["task_id"], t["try_number"], t["state"]) for t in tries]
        source = everything(crm, TOKEN)
        targets = {"push_marketing": everything(marketing, TOKEN), "push_ads": everything(ads, TOKEN)}
        stats = {"push_marketing": marketing.stats(), "push_ads": ads.stats()}

    numbers = {t["task_id"]: t["try_number"] for t in tries}
    assert numbers["push_marketing"] >= 2, numbers  # the outage failed a try: the retry finished
    assert numbers["push_ads"] >= 2, numbers

    # Each outage alerted, naming what went away.
    retries = [
        json.dumps(d["body"]) for d in received if f"Task up for retry: {DAG_ID}.push" in json.dumps(d)
    ]
    marketing_alerts = [text for text in retries if f"{DAG_ID}.push_marketing" in text]
    ads_alerts = [text for text in retries if f"{DAG_ID}.push_ads" in text]
    assert any(state_db.name in text for text in marketing_alerts), marketing_alerts
    assert any(f"redis://127.0.0.1:{redis_server.port}" in text for text in ads_alerts), ads_alerts

    engine = create_engine(state_db.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(ledger)).all()
            dead = conn.execute(select(dead_letters.c.task_id, dead_letters.c.record_key)).all()
    finally:
        engine.dispose()
    refused = {key for task, key in dead if task == "validate"}
    assert refused  # the CRM's messy data always has rows to refuse
    for task, integration in TARGETS.items():
        target = targets[task]
        created = {
            row.remote_id for row in rows if row.integration == integration and row.status == "created"
        }
        pending = [
            row.record_key for row in rows if row.integration == integration and row.status != "created"
        ]
        assert pending == [], (task, pending)
        assert created == {record["id"] for record in target}, task  # nothing marked done that was not
        dead_here = {key for dead_task, key in dead if dead_task == task}
        assert len(target) + len(refused) + len(dead_here) == len(source), (task, len(target), dead_here)
        assert stats[task]["duplicate_creates"] == 0, stats[task]
    print(  # the figures of docs/reliability.md (pytest -rP shows them)
        f"outages {CONTACTS} contacts: tries {sorted(numbers.items())}, "
        f"targets {[len(t) for t in targets.values()]}, dead-lettered by validation {len(refused)}, "
        f"retry alerts {len(retries)}"
    )
