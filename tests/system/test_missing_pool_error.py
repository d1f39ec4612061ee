"""A DAG run whose tasks name a pool that does not exist gets an ERROR naming pool, DAG and tasks.

A real scheduler (``airflow scheduler --num-runs 5``, LocalExecutor) in an Airflow home of the
test's own starts a triggered run of ``missing_pool/pool_check.py``; the provider's plugin,
loaded from its entry point, logs the error when the run starts (``alerting.missing_pools``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from demo.stack import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DAGS = Path(__file__).parent / "missing_pool"
POOL = "pool_check_api"
LOGGER = "reliable_api.alerting.missing_pools"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An Airflow home of its own (metadata DB, DAG serialized and unpaused), without the pool."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("missing_pool_home")),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)  # the home's own SQLite DB
    for command in (["db", "migrate"], ["dags", "reserialize"], ["dags", "unpause", "pool_check"]):
        airflow(env, *command)
    return env


def airflow(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"airflow {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def schedule_a_run(env: dict[str, str], run_id: str) -> list[str]:
    """Trigger ``pool_check``, let the scheduler start it, and return the scheduler's log lines."""
    airflow(env, "dags", "trigger", "pool_check", "--run-id", run_id)
    lines = airflow(env, "scheduler", "--num-runs", "5").splitlines()
    started = [line for line in lines if "DagRun Finished" in line and f"run_id={run_id}," in line]
    assert started, "the scheduler did not run it:\n" + "\n".join(lines[-40:])
    return lines


def test_a_missing_pool_is_an_error_naming_pool_dag_and_tasks(airflow_env: dict[str, str]) -> None:
    lines = schedule_a_run(airflow_env, "missing_pool_run")
    errors = [line for line in lines if LOGGER in line and "error" in line.lower()]
    assert len(errors) == 1, "\n".join(lines[-40:])
    (error,) = errors
    assert f"Pool {POOL!r} does not exist" in error
    assert "task(s) first, second of DAG 'pool_check' (run missing_pool_run)" in error
    assert f'airflow pools set {POOL} <slots> "<description>"' in error
    assert "plain" not in error  # default_pool exists


def test_an_existing_pool_logs_no_such_error(airflow_env: dict[str, str]) -> None:
    airflow(airflow_env, "pools", "set", POOL, "2", "the test's API")
    lines = schedule_a_run(airflow_env, "existing_pool_run")
    assert not [line for line in lines if LOGGER in line], "\n".join(lines[-40:])
