"""A long extract says how far it got, so its log never goes silent for minutes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.operators import extract
from reliable_api.testing.sandbox.server import SandboxServer


def test_progress_lines_name_pages_and_seconds_waited(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": {"limiter_backend": "memory"}}
    monkeypatch.setenv("AIRFLOW_CONN_PROGRESS_SANDBOX", json.dumps(conn))
    monkeypatch.setattr(extract, "PROGRESS_SECONDS", 0.0)  # as if every page took long
    operator = extract.ApiExtractOperator(
        task_id="extract",
        http_conn_id="progress_sandbox",
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        staging_root=str(tmp_path),
    )
    ti = SimpleNamespace(dag_id="dag", run_id="run_1", task_id="extract", map_index=-1)
    summary = operator.execute({"ti": ti})
    out, err = capfd.readouterr()  # the task log's lines (structlog writes them, not caplog's handler)
    progress = [line for line in (out + err).splitlines() if "pages so far" in line]
    assert summary["pages"] == 6
    assert len(progress) == 6
    assert "] 1 pages so far; 0.0 s waited for the rate limit" in progress[0]
    assert "] 6 pages so far; 0.0 s waited for the rate limit" in progress[-1]
