"""Run metrics reach a real StatsD listener through Airflow's Stats, and a broken client fails no task."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from statsd import StatsClient

from reliable_api.exceptions import ServerError
from reliable_api.idempotency.api_upsert import ApiResource
from reliable_api.monitoring.runs import load_runs
from reliable_api.operators.api_upsert import ApiUpsertOperator
from reliable_api.testing.sandbox.server import SandboxServer

API_CONN = "stats_api"
PREFIX = "airflow.reliable_api.stats_crm"


class TrackedStatsClient(StatsClient):
    """StatsD's own client, remembered so that its socket is closed after the test.

    Airflow never closes its client's socket (it lives as long as the process); a test that
    replaces the backend must, or the socket leaks into a ResourceWarning.
    """

    opened: list[StatsClient] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TrackedStatsClient.opened.append(self)

    @classmethod
    def close_all(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()


class BrokenStatsClient(TrackedStatsClient):
    """A StatsD client whose every send fails."""

    def _send(self, data: str) -> None:
        raise RuntimeError("the metrics pipeline is down")


def configure_stats(monkeypatch: pytest.MonkeyPatch, port: int, client: str = "TrackedStatsClient") -> None:
    """``[metrics]`` for StatsD on loopback, then the backend set up as Airflow's task runner does."""
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_CUSTOM_CLIENT_PATH", f"{__name__}.{client}")
    set_backend(statsd=True)


def set_backend(*, statsd: bool) -> None:
    """The StatsD backend configured by ``[metrics]`` (as the task runner sets it up), or none."""
    try:
        from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
        from airflow.sdk.observability import stats
        from airflow.sdk.observability.metrics import stats_utils
    except ImportError:  # Airflow 3.1: airflow.stats.Stats, its backend chosen once per process
        from airflow.metrics import statsd_logger
        from airflow.metrics.base_stats_logger import NoStatsLogger as NoStatsLogger31
        from airflow.stats import Stats

        type(Stats).factory = statsd_logger.get_statsd_logger if statsd else NoStatsLogger31
        Stats.instance = None
        return
    if hasattr(stats, "initialize"):  # Airflow 3.3+: module functions, legacy names optional
        factory = stats_utils.get_stats_factory() if statsd else NoStatsLogger
        stats.initialize(factory=factory, export_legacy_names=not statsd)
    else:  # Airflow 3.2: the Stats class, whose factory takes the class
        stats.Stats.initialize(
            factory=stats_utils.get_stats_factory(stats.Stats) if statsd else NoStatsLogger
        )


def airflow_stats() -> Any:
    """Airflow's ``Stats`` facade, the one the provider sends through (3.1 has it in airflow.stats)."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # Airflow 3.1
        from airflow.stats import Stats
    return Stats


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP socket on loopback that Airflow's Stats send to."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    configure_stats(monkeypatch, listener.getsockname()[1])
    yield listener
    reset_stats()
    listener.close()


def reset_stats() -> None:
    """Back to no backend, as before the test; close the clients it made."""
    set_backend(statsd=False)
    TrackedStatsClient.close_all()


@pytest.fixture
def api(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    conn = {
        "conn_type": "reliable_http",
        "host": sandbox.url,
        "extra": {"limiter_backend": "memory", "backoff_base": 0.01, "max_retries": 1},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{API_CONN.upper()}", json.dumps(conn))
    return sandbox


def upsert(count: int, start: int = 0) -> ApiUpsertOperator:
    return ApiUpsertOperator(
        task_id="load",
        http_conn_id=API_CONN,
        resource=ApiResource(
            natural_key=("email",), create_path="/v1/contacts", update_path="/v1/contacts/{id}"
        ),
        records=[{"email": f"s{n}@example.com"} for n in range(start, start + count)],
        integration="stats_crm",
        max_failure_ratio=0.5,
    )


def context(try_number: int = 1) -> Any:
    return {
        "ti": SimpleNamespace(dag_id="dag", run_id="r", task_id="load", map_index=-1, try_number=try_number)
    }


def received(listener: socket.socket, until: str) -> dict[str, str]:
    """Metric name -> ``value|type`` of every line up to the one naming ``until``."""
    metrics: dict[str, str] = {}
    while until not in metrics:
        data = listener.recv(65536).decode()
        for line in data.splitlines():
            name, _, value = line.partition(":")
            metrics[name] = value
    return metrics


@pytest.mark.usefixtures("state_db")
def test_a_try_sends_its_numbers_to_statsd(statsd: socket.socket, api: SandboxServer) -> None:
    api.configure(fail_422=["s3@example.com"])
    upsert(10).execute(context())
    metrics = received(statsd, f"{PREFIX}.throttled_seconds")
    assert metrics[f"{PREFIX}.tries"] == "1|c"
    assert f"{PREFIX}.tries_failed" not in metrics
    assert metrics[f"{PREFIX}.records_in"] == "10|c"
    assert metrics[f"{PREFIX}.records_written"] == "9|c"
    assert metrics[f"{PREFIX}.dead_lettered"] == "1|c"
    assert metrics[f"{PREFIX}.rate_limited"] == "0|c"
    assert metrics[f"{PREFIX}.throttled_seconds"] == "0.0|g"
    value, kind = metrics[f"{PREFIX}.duration"].split("|")
    assert kind == "ms"
    assert float(value) > 0


@pytest.mark.usefixtures("state_db")
def test_a_failed_try_is_counted_as_failed(statsd: socket.socket, api: SandboxServer) -> None:
    api.configure(p_503=1.0)
    with pytest.raises(ServerError):
        upsert(3).execute(context())
    metrics = received(statsd, f"{PREFIX}.throttled_seconds")
    assert (metrics[f"{PREFIX}.tries"], metrics[f"{PREFIX}.tries_failed"]) == ("1|c", "1|c")
    assert metrics[f"{PREFIX}.requests"] == "2|c"
    assert metrics[f"{PREFIX}.retries"] == "1|c"


def test_a_broken_stats_client_fails_no_task(
    state_db: Engine, api: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_stats(monkeypatch, 9, client="BrokenStatsClient")
    try:
        with pytest.raises(RuntimeError, match="pipeline is down"):  # the client really is broken
            airflow_stats().incr("reliable_api.probe")
        counts = upsert(4).execute(context())
    finally:
        reset_stats()
    assert counts["created"] == 4
    (row,) = load_runs(state_db, integration="stats_crm")
    assert row.outcome == "success"
