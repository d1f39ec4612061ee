"""The scale-out stack of ``docker-compose.yaml``, run as processes on this machine.

No Docker engine runs here, so this is not the compose stack itself: it takes each Airflow
service's environment and command from the compose file (a broken file breaks this test), points
the service hosts at this machine's PostgreSQL and Redis, and runs ``deploy/init.sh``, the API
server, scheduler, dag-processor, triggerer, TWO Celery workers with hostnames of their own, and
the sandbox API with the compose file's server-side limit. Fresh databases and a Redis key prefix
keep it apart from everything else; all of it is removed at the end.

What the test overrides, and why, is in :meth:`ScaleOutStack.local_overrides`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from test_demo_stack import processes_with_home

from demo.stack import MARKER, DemoError, DemoStack, _get_ok, free_port
from tests.services import POSTGRES_HOST, POSTGRES_PORT, REDIS_HOST, REDIS_PORT, require_service
from tests.system.test_compose_file import (
    AIRFLOW_SERVICES,
    DEPLOY,
    IMAGE_DAGS_DIR,
    IMAGE_DEPLOY_DIR,
    POOLS_FILE,
    command_of,
    environment_of,
    load_compose,
    read_env_file,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.timeout(600),
]

DAGS = Path(__file__).parent / "dags_scale"
DAG_ID = "scale_out_fanout"
TASK_ID = "call_sandbox"
TASKS, REQUESTS_PER_TASK = 8, 10  # as in dags_scale/scale_out_fanout.py
WORKERS = ("worker-a", "worker-b")
POOL = "reliable_api_sandbox"
#: The sandbox counts arrivals, which trail the limiter's grants by each request's own latency
#: (a loaded 2-CPU machine): allow a few more than the limit's rate + burst in any one second.
ARRIVAL_JITTER = 4


def to_local(value: str, hosts: Mapping[tuple[str, int], tuple[str, int]]) -> str:
    """``value`` with every ``service:port`` of the compose network replaced by its local address.

    Handles URLs (``scheme://[user[:password]@]host:port``) and JSON connections (``host`` and
    ``port`` fields, URLs in any field). A service address the map lacks fails the test.
    """

    def url(text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            key = (match[1], int(match[2]))
            if key not in hosts:
                raise AssertionError(f"no local address for {key} in {text!r}")
            return "{}:{}".format(*hosts[key])

        return re.sub(r"(?:(?<=@)|(?<=//))([a-z][a-z0-9-]*):(\d+)(?=/|$)", replace, text)

    if not value.startswith("{"):
        return url(value)
    conn = {key: url(field) if isinstance(field, str) else field for key, field in json.loads(value).items()}
    if (conn.get("host"), conn.get("port")) in hosts:
        conn["host"], conn["port"] = hosts[(conn["host"], conn["port"])]
    return json.dumps(conn)


@dataclass
class ScaleOutStack(DemoStack):
    """The compose file's services as local processes, stopped together like the demo stack.

    :param compose: the compose file interpolated with this test's ``.env`` values.
    :param hosts: compose ``(service, port)`` to local ``(host, port)``.
    :param key_prefix: Redis key prefix of the Celery broker, unique to this stack.
    """

    compose: dict[str, Any] = field(default_factory=dict)
    hosts: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    key_prefix: str = ""
    _ports: dict[str, int] = field(default_factory=dict)

    def port(self, name: str) -> int:
        """A free port for ``name``, the same one each time it is asked for."""
        return self._ports.setdefault(name, free_port())

    def environment(self) -> dict[str, str]:
        """The base of every process's environment: this one's without its Airflow settings."""
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        return {**inherited, MARKER: self.run_id}

    def local_overrides(self) -> dict[str, str]:
        """What differs from the containers: one machine instead of one container per service."""
        return {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),  # the image's /opt/airflow/dags
            # Containers each own port 8080, 8974, 8793, 8794; processes here need free ones.
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.port("scheduler-health")),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.port("triggerer-logs")),
            # The compose stack has a Redis of its own; here the broker shares one with other tests.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.key_prefix,
        }

    def service_environment(self, service: str) -> dict[str, str]:
        """The environment of ``service``: the compose file's, made local, plus the overrides."""
        compose_env = {
            key: to_local(value, self.hosts)
            for key, value in environment_of(self.compose["services"][service]).items()
        }
        if "RELIABLE_API_POOLS_FILE" in compose_env:
            assert compose_env["RELIABLE_API_POOLS_FILE"] == f"{IMAGE_DAGS_DIR}/pools.json"
            compose_env["RELIABLE_API_POOLS_FILE"] = str(POOLS_FILE)
        return {**self.environment(), **compose_env, **self.local_overrides(), **self.extra_env}

    def worker_environment(self, name: str) -> dict[str, str]:
        """A Celery worker's environment: a hostname and log server port of its own."""
        return {
            **self.service_environment("airflow-worker"),
            "HOSTNAME": name,  # what the compose healthcheck pings: celery@$HOSTNAME
            "RELIABLE_API_WORKER_HOSTNAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scale_hostname.worker_hostname",
            "PYTHONPATH": str(self.dags_folder),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.port(f"{name}-logs")),
        }

    def start(self, *, timeout: float = 240.0) -> None:
        """Run init.sh, then start every service; return when all of them pass their healthchecks."""
        self.home.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        init_env = self.service_environment("airflow-init")
        assert command_of(self.compose["services"]["airflow-init"]) == ["bash", f"{IMAGE_DEPLOY_DIR}/init.sh"]
        with (self.home / "init.log").open("ab") as log:
            init = subprocess.run(
                ["bash", str(DEPLOY / "init.sh")],
                env=init_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if init.returncode:
            raise DemoError(f"deploy/init.sh exited with {init.returncode}; see {self.home / 'init.log'}")

        sandbox = command_of(self.compose["services"]["sandbox"])
        sandbox[sandbox.index("--host") + 1] = "127.0.0.1"
        sandbox[sandbox.index("--port") + 1] = str(self.sandbox_port)
        assert sandbox[:3] == ["python", "-m", "reliable_api.testing.sandbox"]
        self._spawn([sys.executable, *sandbox[1:]], self.environment(), "sandbox.log")
        for service in (
            "airflow-apiserver",
            "airflow-scheduler",
            "airflow-dag-processor",
            "airflow-triggerer",
        ):
            command = command_of(self.compose["services"][service])
            self._spawn(
                [sys.executable, "-m", "airflow", *command],
                self.service_environment(service),
                f"{service}.log",
            )
        worker = command_of(self.compose["services"]["airflow-worker"])
        for name in WORKERS:
            command = [sys.executable, "-m", "airflow", *worker, "--celery-hostname", name]
            self._spawn(command, self.worker_environment(name), f"{name}.log")

        self._wait_until(lambda: _get_ok(f"{self.sandbox_url}/_sandbox/health"), deadline, "sandbox API")
        self._wait_until(self._airflow_healthy, deadline, "API server, scheduler, dag-processor, triggerer")
        self._wait_until(self.healthchecks_pass, deadline, "the compose file's healthchecks")

    def healthchecks_pass(self) -> bool:
        """Run every service's compose healthcheck against its local process."""
        return all(self.healthcheck(service) for service in AIRFLOW_SERVICES - {"airflow-init"})

    def healthcheck(self, service: str, name: str = "") -> bool:
        """Run the healthcheck of ``service`` (each worker's for ``airflow-worker``)."""
        if service == "airflow-worker" and not name:
            return all(self.healthcheck(service, worker) for worker in WORKERS)
        kind, *test = self.compose["services"][service]["healthcheck"]["test"]
        if kind == "CMD" and test[:2] == ["curl", "--fail"]:  # no curl needed: the same GET with httpx
            port = {"airflow-apiserver": self.airflow_port}.get(service) or self.port("scheduler-health")
            return _get_ok(re.sub(r"localhost:\d+", f"127.0.0.1:{port}", test[2]))
        assert kind == "CMD-SHELL", (service, kind)
        env = self.worker_environment(name) if name else self.service_environment(service)
        check = subprocess.run(["bash", "-c", test[0]], env=env, capture_output=True, timeout=120)
        return check.returncode == 0


def _postgres_admin(statement: str) -> None:
    import psycopg2

    admin = psycopg2.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(statement)
    finally:
        admin.close()


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    """Fresh databases for the compose file's AIRFLOW_DB_NAME, STATE_DB_NAME, WAREHOUSE_DB_NAME."""
    require_service("PostgreSQL", POSTGRES_HOST, int(POSTGRES_PORT))
    tag = uuid.uuid4().hex[:10]
    names = {
        var: f"reliable_api_scale_{kind}_{tag}"
        for var, kind in (
            ("AIRFLOW_DB_NAME", "meta"),
            ("STATE_DB_NAME", "state"),
            ("WAREHOUSE_DB_NAME", "warehouse"),
        )
    }
    created = []
    try:
        for name in names.values():
            _postgres_admin(f'CREATE DATABASE "{name}"')
            created.append(name)
        yield names
    finally:
        for name in created:
            _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_keys() -> Iterator[list[tuple[int, str]]]:
    """``(database, key pattern)`` pairs of Redis keys to delete after the test."""
    require_service("Redis", REDIS_HOST, int(REDIS_PORT))
    import redis

    patterns: list[tuple[int, str]] = []
    yield patterns
    for db, pattern in patterns:
        client = redis.Redis(host=REDIS_HOST, port=int(REDIS_PORT), db=db)
        try:
            keys = list(client.scan_iter(match=pattern))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _redis_keys(db: int, pattern: str) -> list[str]:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=int(REDIS_PORT), db=db, decode_responses=True)
    try:
        return list(client.scan_iter(match=pattern))
    finally:
        client.close()


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals that overlap at any instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_mapped_tasks_on_two_celery_workers_share_one_rate_limit_under_the_pool(
    tmp_path: Path, databases: dict[str, str], redis_keys: list[tuple[int, str]]
) -> None:
    started = time.monotonic()
    api_port, sandbox_port = free_port(), free_port()
    env_file = {  # what an operator would put in deploy/.env
        **read_env_file(),
        **databases,
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(12),  # trust authentication here: never checked
        "AIRFLOW_FERNET_KEY": _fernet_key(),
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW_BASE_URL": f"http://127.0.0.1:{api_port}",
    }
    hosts = {
        ("postgres", 5432): (POSTGRES_HOST, int(POSTGRES_PORT)),
        ("redis", 6379): (REDIS_HOST, int(REDIS_PORT)),
        ("airflow-apiserver", 8080): ("127.0.0.1", api_port),
        ("sandbox", 8099): ("127.0.0.1", sandbox_port),
        # No DAG of this test calls the marketing API: its connection only has to parse.
        ("marketing", 8098): ("127.0.0.1", free_port()),
    }
    key_prefix = f"reliable_api_test:{uuid.uuid4().hex[:12]}:"
    stack = ScaleOutStack(
        home=tmp_path / "airflow",
        airflow_port=api_port,
        sandbox_port=sandbox_port,
        dags_folder=DAGS,
        compose=load_compose(env_file),
        hosts=hosts,
        key_prefix=key_prefix,
    )
    pool_slots = json.loads(POOLS_FILE.read_text())[POOL]["slots"]
    worker_env = environment_of(stack.compose["services"]["airflow-worker"])
    limit = json.loads(worker_env["AIRFLOW_CONN_RELIABLE_API_SANDBOX"])["extra"]
    rate = float(limit["rate_limit"].removesuffix("/s"))
    # The broker's keys (all under the prefix) and the limiter's, in the databases the file names.
    redis_keys.append(
        (int(urlsplit(worker_env["AIRFLOW__CELERY__BROKER_URL"]).path.strip("/")), f"{key_prefix}*")
    )
    limiter_db = json.loads(worker_env["AIRFLOW_CONN_" + limit["limiter_conn_id"].upper()])["extra"]["db"]
    with stack:
        run_id = stack.trigger(DAG_ID)
        # The limiter's key in Redis: the DAG uses the run id as its limit key.
        redis_keys.append((limiter_db, f"reliable_api:limiter:reliable_api_sandbox:{run_id}*"))
        with stack.api_client() as api:
            assert api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).is_success
            pool = api.get(f"/pools/{POOL}").json()
        state = stack.wait_for_run(DAG_ID, run_id, timeout=300)
        with stack.api_client() as api:
            instances = api.get(
                f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
            ).json()
        stats = httpx.get(f"{stack.sandbox_url}/_sandbox/stats", timeout=10).json()
        limiter_keys = _redis_keys(limiter_db, redis_keys[-1][1])
    print(f"scale-out run: {time.monotonic() - started:.0f} s; sandbox stats: {stats}")

    assert state == "success", f"logs in {stack.home}"
    mapped = [ti for ti in instances["task_instances"] if ti["task_id"] == TASK_ID]
    assert len(mapped) == TASKS
    assert {ti["state"] for ti in mapped} == {"success"}
    # Both Celery workers ran task instances: their own hostnames, as two containers would have.
    assert {ti["hostname"] for ti in mapped} == set(WORKERS)
    # The pool from dags/pools.json (imported by init.sh) capped the tasks running at once.
    assert (pool["slots"], pool["include_deferred"]) == (pool_slots, True)
    assert {ti["pool"] for ti in mapped} == {POOL}
    intervals = [
        (datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"])) for ti in mapped
    ]
    assert 1 < max_overlap(intervals) <= pool_slots
    # The limit lived where the file says: in the limiter connection's Redis database.
    assert limiter_keys == [f"reliable_api:limiter:reliable_api_sandbox:{run_id}"]
    # One limit for all workers: the sandbox (20/s, burst 5) never had to refuse a request, and
    # the requests came at the connection's 10/s together, not 10/s per worker or per task.
    requests = TASKS * REQUESTS_PER_TASK
    assert stats["requests_total"] == requests
    assert stats["rate_limited"] == 0
    assert stats["max_requests_per_second"] <= rate + limit["burst"] + ARRIVAL_JITTER
    first = datetime.fromisoformat(stats["first_request_at"])
    last = datetime.fromisoformat(stats["last_request_at"])
    assert (last - first).total_seconds() >= (requests - limit["burst"]) / rate - 1.0

    # Everything the test started is gone.
    assert stack.leftover_pids() == []
    assert processes_with_home(stack.home) == []
    for port in (stack.airflow_port, stack.sandbox_port, stack.port("scheduler-health")):
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
