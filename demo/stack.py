"""Start and stop the demo stack: the sandbox API and ``airflow standalone`` on SQLite.

Every process of the stack carries the environment variable ``RELIABLE_API_DEMO_ID`` and
belongs to the session of one of the processes it started; stopping the stack ends each process
that carries either, so nothing is left behind: neither processes that left the process group,
nor those whose title (setproctitle) overwrote the environment ``/proc`` shows.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
#: The pools of the sample DAGs (one per API), imported into every stack.
POOLS_FILE = REPO / "dags" / "pools.json"
MARKER = "RELIABLE_API_DEMO_ID"
log = logging.getLogger(__name__)
SANDBOX_CONN_ID = "reliable_api_sandbox"
#: How often a trigger answered 5xx is sent again before the demo gives up.
TRIGGER_ATTEMPTS = 4


class DemoError(RuntimeError):
    """The demo stack could not start, or a DAG run did not succeed."""


@dataclass
class DemoStack:
    """The sandbox API and Airflow standalone, started together, stopped together.

    :param home: ``AIRFLOW_HOME`` of the demo (SQLite DB, logs, generated password).
    :param airflow_port: port of Airflow's API server and UI.
    :param sandbox_port: port of the sandbox API (the CRM of the sample DAGs).
    :param marketing_port: port of a second, empty sandbox: the marketing platform the sample
        DAGs push contacts into (0: a free port).
    :param dags_folder: where the scheduler finds DAG files (the repo's ``dags/`` by default).
    :param extra_env: more environment for every process (connections, config).
    :param scheduled: whether the scheduler starts the DAGs' scheduled runs; off for ``--once``,
        whose report must hold only the runs it triggers.
    """

    home: Path
    airflow_port: int = 8080
    sandbox_port: int = 8099
    marketing_port: int = 0
    dags_folder: Path = REPO / "dags"
    extra_env: dict[str, str] = field(default_factory=dict)
    scheduled: bool = True
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.marketing_port:
            self.marketing_port = free_port()

    @property
    def airflow_url(self) -> str:
        """The Airflow UI and REST API address."""
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def sandbox_url(self) -> str:
        """The sandbox API address."""
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def marketing_url(self) -> str:
        """The marketing sandbox's address."""
        return f"http://127.0.0.1:{self.marketing_port}"

    def environment(self) -> dict[str, str]:
        """The environment of every process of the stack."""
        connection = {
            "conn_type": "reliable_http",
            "host": self.sandbox_url,
            # "20/sec", not "20/s": Airflow's secret masker warns about extra values under 5 chars.
            "extra": {"rate_limit": "20/sec", "burst": 5, "limiter_backend": "sqlite"},
        }
        return {
            **os.environ,
            MARKER: self.run_id,
            # airflow standalone starts its components as `airflow ...` found on PATH.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # Off: only runs triggered through the API (or the UI) run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.scheduled),
            "AIRFLOW_CONN_" + SANDBOX_CONN_ID.upper(): json.dumps(connection),
            "AIRFLOW_CONN_RELIABLE_API_MARKETING": json.dumps({**connection, "host": self.marketing_url}),
            # The sample DAGs' warehouse and alert channel: a SQLite file, the sandbox's sink.
            "AIRFLOW_CONN_RELIABLE_API_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": str(self.home / "warehouse.db")}
            ),
            "AIRFLOW_CONN_RELIABLE_API_ALERTS": json.dumps(
                {"conn_type": "http", "password": f"{self.sandbox_url}/_sandbox/webhook/alerts"}
            ),
            **self.extra_env,
        }

    def start(self, *, timeout: float = 240.0) -> None:
        """Start the sandbox and Airflow; return when the API server and scheduler are healthy.

        :raises DemoError: when a component exits or is not healthy within ``timeout`` seconds.
        """
        for port in (self.airflow_port, self.sandbox_port, self.marketing_port):
            # Another stack on the port would answer the health checks in this one's place.
            if _port_in_use(port):
                raise DemoError(f"port {port} is in use: stop what listens there or choose another")
        self.home.mkdir(parents=True, exist_ok=True)
        self.reset_provider_state()
        env = self.environment()
        sandbox = [sys.executable, "-m", "reliable_api.testing.sandbox"]
        self._spawn([*sandbox, "--port", str(self.sandbox_port)], env, "sandbox.log")
        # The marketing platform starts empty and, like real APIs, sometimes answers 503.
        marketing = ["--contacts", "0", "--rate", "25", "--burst", "5", "--p-503", "0.02", "--seed", "1"]
        self._spawn([*sandbox, "--port", str(self.marketing_port), *marketing], env, "marketing.log")
        self._spawn([sys.executable, "-m", "airflow", "standalone"], env, "standalone.log")
        deadline = time.monotonic() + timeout
        for url in (self.sandbox_url, self.marketing_url):
            health = f"{url}/_sandbox/health"
            self._wait_until(partial(_get_ok, health), deadline, f"sandbox API {url}")
        self._wait_until(self._airflow_healthy, deadline, "Airflow API server and scheduler")
        self.import_pools()

    def import_pools(self) -> None:
        """Create (or update) the sample DAGs' pools, one per API, from :data:`POOLS_FILE`.

        A task in a pool that does not exist never runs. Through the REST API rather than
        ``airflow pools import``: that CLI process costs as much CPU as one Airflow component's start.
        """
        pools: dict[str, dict[str, object]] = json.loads(POOLS_FILE.read_text())
        with self.api_client() as api:
            for name, pool in pools.items():
                created = api.post("/pools", json={"name": name, **pool})
                answer = (
                    api.patch(f"/pools/{name}", json={"name": name, **pool})
                    if created.status_code == 409
                    else created
                )
                if not answer.is_success:
                    raise DemoError(
                        f"creating pool {name} answered {answer.status_code}: {answer.text[:500]}"
                    )

    def reset_provider_state(self) -> None:
        """Empty the ledger, dead letters, run metrics, staged files and the warehouse.

        The sandboxes start from their seeded data every time; a ledger kept from an earlier
        stack would "know" records the new sandboxes never saw and skip them, so each demo's
        counts (and its "created twice: none") would mean nothing.
        """
        shutil.rmtree(self.home / "reliable_api", ignore_errors=True)  # the default state DB, staging
        (self.home / "warehouse.db").unlink(missing_ok=True)

    def login(self) -> tuple[str, str]:
        """The generated admin user and password of the simple auth manager."""
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        passwords: dict[str, str] = json.loads(generated.read_text())
        user, password = next(iter(passwords.items()))
        return user, password

    def api_client(self) -> httpx.Client:
        """An httpx client for Airflow's REST API, authenticated as the admin user."""
        user, password = self.login()
        token = httpx.post(
            f"{self.airflow_url}/auth/token", json={"username": user, "password": password}, timeout=30
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        return httpx.Client(base_url=f"{self.airflow_url}/api/v2", headers=headers, timeout=30)

    def trigger(self, dag_id: str, *, timeout: float = 300.0) -> str:
        """Trigger ``dag_id`` through the REST API once it is parsed; return the run id.

        The run id is chosen here, so a POST answered 5xx (SQLite busy under load) can be sent
        again without starting a second run: a 409 means the first one did create it.
        """
        deadline = time.monotonic() + timeout
        run_id = f"demo__{uuid.uuid4().hex}"
        with self.api_client() as api:
            self._wait_until(lambda: api.get(f"/dags/{dag_id}").status_code == 200, deadline, dag_id)
            attempt = 1
            while True:
                run = api.post(f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})
                if run.is_success or (run.status_code == 409 and attempt > 1):
                    return run_id
                if run.status_code < 500 or attempt == TRIGGER_ATTEMPTS:
                    answer = f"{run.status_code}: {run.text[:500]}"
                    raise DemoError(f"triggering {dag_id} answered {answer}; logs in {self.home}")
                log.warning("triggering %s answered %s; sending it again", dag_id, run.status_code)
                time.sleep(2**attempt)
                attempt += 1

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 300.0) -> str:
        """Wait for run ``run_id`` of ``dag_id`` to end; return its state (``success`` or ``failed``)."""
        deadline = time.monotonic() + timeout
        with self.api_client() as api:
            while time.monotonic() < deadline:
                # A 5xx or a read timeout here is the busy SQLite of the demo, not the run's state:
                # ask again.
                try:
                    run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
                except httpx.TimeoutException:
                    continue
                state = run.json()["state"] if run.is_success else None
                if state in ("success", "failed"):
                    return str(state)
                time.sleep(2)
        raise DemoError(f"DAG run {run_id} of {dag_id} did not finish within {timeout:.0f} s")

    def run_dag(self, dag_id: str, *, timeout: float = 300.0) -> str:
        """Trigger ``dag_id`` through the REST API and wait for the run to end; return its state."""
        started = time.monotonic()
        run_id = self.trigger(dag_id, timeout=timeout)
        return self.wait_for_run(dag_id, run_id, timeout=timeout - (time.monotonic() - started))

    def stop(self, *, grace: float = 30.0) -> None:
        """Stop every process of the stack: SIGTERM, then SIGKILL after ``grace`` seconds.

        Returns only when none of its processes is left and its ports are closed: the API
        server, whose graceful shutdown outlived ``standalone`` by seconds, included.
        """
        for process in self._processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        self._wait_gone(time.monotonic() + grace)
        for pid in self.leftover_pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait_gone(time.monotonic() + 30)
        left = self.leftover_pids()
        if left:
            log.warning("processes %s of the demo are still alive after SIGKILL", left)

    def _wait_gone(self, deadline: float) -> None:
        """Reap the stack's processes; wait until no process of it is left and its ports are free."""
        ports = (self.airflow_port, self.sandbox_port, self.marketing_port)
        while time.monotonic() < deadline:
            running = any(process.poll() is None for process in self._processes)  # poll() reaps
            if not running and not self.leftover_pids() and not any(map(_port_in_use, ports)):
                return
            time.sleep(0.2)

    def leftover_pids(self) -> list[int]:
        """The processes still alive that belong to this stack (by their environment or session)."""
        marker = f"{MARKER}={self.run_id}".encode()
        # Each process was started in a session of its own, whose id is its pid.
        sessions = {process.pid for process in self._processes}
        return [
            pid
            for pid in _all_pids()
            if _session_of(pid) in sessions or marker in _environ_of(pid).split(b"\0")
        ]

    def __enter__(self) -> DemoStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, command: list[str], env: dict[str, str], log_name: str) -> None:
        log = (self.home / log_name).open("ab")
        # A new session makes the process the leader of its own group, so stop() can signal
        # the whole tree at once.
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
        log.close()
        self._processes.append(process)

    def _airflow_healthy(self) -> bool:
        try:
            health = httpx.get(f"{self.airflow_url}/api/v2/monitor/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False
        return all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def _wait_until(self, condition: Callable[[], bool], deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise DemoError(f"{process.args!r} exited with {process.returncode}; see {self.home}")
            if condition():
                return
            time.sleep(1)
        raise DemoError(f"timed out waiting for {what}; logs in {self.home}")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            yield int(entry)


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # After the command's name, which may hold spaces and parentheses: state ppid pgrp session ...
    return int(stat.rsplit(")", 1)[1].split()[3])


def _environ_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""
