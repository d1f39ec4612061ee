"""``ApiExtractOperator`` against the sandbox: every record staged once, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1 and 3.2
    from airflow.exceptions import TaskDeferred

from reliable_api.exceptions import ServerError
from reliable_api.http.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
)
from reliable_api.operators.extract import ApiExtractOperator
from reliable_api.staging.files import read_records
from reliable_api.testing.sandbox.server import SandboxServer

CONN_ID = "extract_sandbox"


def use_connection(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> None:
    conn = {"conn_type": "reliable_http", "host": url, "extra": {"limiter_backend": "memory", **extra}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def context(run_id: str = "run_1") -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="dag", run_id=run_id, task_id="extract", map_index=-1)}


def operator(tmp_path: Path, paginator: Paginator, **kwargs: Any) -> ApiExtractOperator:
    return ApiExtractOperator(
        task_id="extract",
        http_conn_id=CONN_ID,
        endpoint="/v1/contacts",
        paginator=paginator,
        staging_root=str(tmp_path),
        **kwargs,
    )


@pytest.mark.parametrize(
    "paginator",
    [
        PageNumberPaginator(size=50),
        OffsetPaginator(limit=70),
        CursorPaginator(cursor_path="next_cursor"),
        LinkHeaderPaginator(),
        NextUrlPaginator(next_url_path="next_url"),
    ],
    ids=lambda p: type(p).__name__,
)
def test_every_record_is_staged_exactly_once(
    paginator: Paginator, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sandbox.url)
    # The sandbox pages by cursor when the first request names an (empty) cursor.
    query = {"limit": 60, "cursor": ""} if isinstance(paginator, (CursorPaginator, NextUrlPaginator)) else {}
    summary = operator(tmp_path, paginator, query=query).execute(context())
    ids = [record["id"] for record in read_records(summary)]
    assert len(ids) == len(set(ids)) == 500
    assert summary["records"] == 500
    assert summary["requests"] == summary["pages"]
    assert "data" not in json.dumps(summary)  # XCom carries paths and counts, never records


def test_incremental_extraction_sends_the_watermark(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sandbox.url)
    full = operator(tmp_path, PageNumberPaginator(size=100)).execute(context("full"))
    records = list(read_records(full))
    since = sorted(record["updated_at"] for record in records)[400]
    extract = operator(
        tmp_path, PageNumberPaginator(size=100), incremental_param="updated_since", since=since
    )
    recent = list(read_records(extract.execute(context("incremental"))))
    assert {r["id"] for r in recent} == {r["id"] for r in records if r["updated_at"] >= since}
    assert 0 < len(recent) < len(records)


def test_a_long_retry_after_defers_then_resumes_where_it_stopped(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One request per 5 s after a burst of 4: however slow a loaded machine sends the pages, the
    # bucket cannot refill between them, so the 5th meets a Retry-After longer than defer_after.
    sandbox = make_sandbox(rate=0.2, burst=4)
    use_connection(monkeypatch, sandbox.url, defer_after=0.5, max_retry_after=600)
    extract = operator(tmp_path, PageNumberPaginator(size=100), part_size=1)
    with pytest.raises(TaskDeferred) as deferred:
        extract.execute(context())
    assert deferred.value.method_name == "resume"
    staged_before = sandbox.stats()["responses_2xx"]
    assert 0 < staged_before < 5  # the burst went through, then the API said "wait"

    sandbox.configure(rate=0)  # the wait is over
    summary = extract.resume(context())
    ids = [record["id"] for record in read_records(summary)]
    assert len(ids) == len(set(ids)) == 500
    # Resumed after the staged pages: no page was fetched twice (five pages and the empty one).
    assert sandbox.stats()["responses_2xx"] == 6


def test_each_retry_resumes_after_the_pages_staged_before(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every other request fails and nothing retries in-process: each try of the task gets a
    # page or two further. A page staged by an earlier try is never fetched again.
    use_connection(monkeypatch, sandbox.url, max_retries=0)
    sandbox.configure(p_503=0.5)
    tries, summary = 0, None
    while summary is None:
        tries += 1
        assert tries < 100, "the extraction makes no progress across tries"
        try:
            summary = operator(tmp_path, PageNumberPaginator(size=50), part_size=1).execute(context())
        except ServerError:
            continue
    ids = [record["id"] for record in read_records(summary)]
    assert len(ids) == len(set(ids)) == 500
    assert tries > 1
    assert sandbox.stats()["responses_2xx"] == 11  # ten pages of 50 and the empty last one, once each
