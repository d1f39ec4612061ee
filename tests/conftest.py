"""Shared test set-up: a throwaway Airflow home, and the Postgres, MySQL/MariaDB and Redis services.

Tests that need Postgres, MySQL or Redis skip with a reason when the service is unreachable, except
under ``CI=true``, where an unreachable service fails them: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.services import POSTGRES_HOST, POSTGRES_PORT, REDIS_HOST, REDIS_PORT, require_service

MYSQL_HOST, MYSQL_PORT = os.environ.get("RELIABLE_API_TEST_MYSQL", "127.0.0.1:3306").split(":")

# Airflow reads its configuration when first imported: point it at a throwaway home before any
# test module imports it, so tests never touch a developer's own Airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="reliable_api_tests_")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(os.path.dirname(__file__), "..", "dags")


# Warnings that Airflow's own code raises on the older releases, with the dependencies a plain
# `pip install apache-airflow==3.1.8` (or 3.2.2) gets today. None comes from the provider; all are
# harmless outside a warnings-are-errors run. Named here, not in pyproject.toml, so that the newest
# release keeps the strict policy. Checked with `make test-compat` (ADR 0001).
AIRFLOW_3_1_WARNINGS = [
    # common-compat resolves BaseBranchOperator through Airflow 3.1's deprecated airflow.operators.
    "ignore:The `airflow.operators.branch.BaseBranchOperator` attribute is deprecated",
    # Airflow 3.1's ObjectStoragePath joins paths through universal-pathlib 0.2's __fspath__.
    "ignore:in a future version of UPath this will be set to None:PendingDeprecationWarning",
    # Airflow 3.1 caps FastAPI below starlette 0.49, whose TestClient uses an anyio 4.12+ alias.
    "ignore:The anyio.abc.BlockingPortal alias is deprecated:DeprecationWarning",
    # Airflow 3.1's execution API (which dag.test() runs in-process) names a status starlette 0.48
    # renamed.
    "ignore:'HTTP_422_UNPROCESSABLE_ENTITY' is deprecated:DeprecationWarning",
]
AIRFLOW_3_1_AND_3_2_WARNINGS = [
    # Airflow 3.1's and 3.2's ORM models use the `noload` loader that SQLAlchemy 2.1 deprecates;
    # raised while the mappers configure, it would leave every model unusable for the session.
    "ignore:The ``noload`` loader strategy is deprecated",
]


def pytest_configure(config: pytest.Config) -> None:
    """Add the named warnings of the older releases. The version comes from the package metadata:
    Airflow itself must not be imported before the throwaway home above is in place."""
    airflow_version = version("apache-airflow-core")
    lines = AIRFLOW_3_1_WARNINGS if airflow_version.startswith("3.1.") else []
    if airflow_version.startswith(("3.1.", "3.2.")):
        lines = [*lines, *AIRFLOW_3_1_AND_3_2_WARNINGS]
    for line in lines:
        config.addinivalue_line("filterwarnings", line)


#: Test directories whose tests run first: the longest ones, so that no worker of ``pytest -n N``
#: is left with one of them at the end while the others are idle.
LONG_TIERS = ("tests/e2e/", "tests/chaos/", "tests/system/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the long tiers first (a stable sort: each module's tests stay together and in order)."""
    items.sort(
        key=lambda item: next((n for n, tier in enumerate(LONG_TIERS) if item.nodeid.startswith(tier)), 99)
    )


#: Tests that start a whole Airflow share one of two workers, so that at most two Airflows run at
#: once on the 2-core machine: the demo stack's tests (the longest, about six minutes) on one, the
#: other e2e and the chaos tests on the other.
AIRFLOW_WORKERS = {
    # Two chains of about the same length (CI's --durations: the demo stack ~385 s, the crash
    # trials ~200 s; the other e2e and chaos modules ~500 s).
    "tests/e2e/test_demo_stack.py": "airflow-a",
    "tests/chaos/test_chaos_crashes.py": "airflow-a",
    "tests/e2e/": "airflow-b",
    "tests/chaos/": "airflow-b",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadscope``: a module's tests share a worker (its module-scoped sandbox, DB
    or batch is built once), and the Airflow tests are grouped as :data:`AIRFLOW_WORKERS` says."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class AtMostTwoAirflows(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = next((g for prefix, g in AIRFLOW_WORKERS.items() if nodeid.startswith(prefix)), None)
            return group or super()._split_scope(nodeid)

    return AtMostTwoAirflows(config, log)


# Property tests assert behaviour, never timings: a loaded 2-core CI machine must not fail them
# for generating examples slowly.
settings.register_profile("reliable_api", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("reliable_api")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh Postgres database, dropped at the end of the session."""
    require_service("PostgreSQL", POSTGRES_HOST, int(POSTGRES_PORT))
    import psycopg2

    name = f"reliable_api_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg2://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh MySQL/MariaDB database (user root), dropped at the end of the session."""
    require_service("MySQL/MariaDB", MYSQL_HOST, int(MYSQL_PORT))
    import pymysql

    name = f"reliable_api_test_{uuid.uuid4().hex[:12]}"

    def admin(statement: str) -> None:
        # A connection per statement: a session-long one could time out (wait_timeout) meanwhile.
        conn = pymysql.connect(host=MYSQL_HOST, port=int(MYSQL_PORT), user="root", autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        admin(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def redis_url() -> str:
    """URL of the Redis server; keys under the test's :func:`redis_namespace` are removed after."""
    require_service("Redis", REDIS_HOST, int(REDIS_PORT))
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    import redis

    prefix = f"reliable_api_test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# This suite's tests predate the prefixed names of the provider's pytest fixtures: they use the old
# names, bound here to the prefixed fixtures without the deprecation warning users get.
@pytest.fixture
def sandbox(reliable_api_sandbox: Any) -> Any:
    return reliable_api_sandbox


@pytest.fixture
def make_sandbox(reliable_api_make_sandbox: Any) -> Any:
    return reliable_api_make_sandbox
