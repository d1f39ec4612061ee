"""Tokens and credentials never reach logs, errors, XCom or staged files."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reliable_api.exceptions import AuthenticationError, RecordRejected
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.operators.extract import ApiExtractOperator

TOKEN = "tok_SECRET_7f3a9c"
CONN_ID = "secret_sandbox"


@pytest.fixture
def secured(make_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox = make_sandbox(api_keys=[TOKEN], p_503=0.3, seed=3)
    extra = {"Authorization": f"Bearer {TOKEN}", "limiter_backend": "memory", "backoff_base": 0.01}
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return sandbox


def everything_written_under(root: Path) -> str:
    texts = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            texts.append((gzip.decompress(data) if path.suffix == ".gz" else data).decode())
    return "\n".join(texts)


def test_extract_with_retries_keeps_the_token_out_of_logs_xcom_and_files(
    secured: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id=CONN_ID,
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        staging_root=str(tmp_path),
    )
    summary = extract.execute(
        {"ti": SimpleNamespace(dag_id="d", run_id="r", task_id="extract", map_index=-1)}
    )
    assert summary["records"] == 500
    assert summary["retries"] > 0  # the 503s were retried, so the retry logs were written
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, json.dumps(summary), everything_written_under(tmp_path)):
        assert TOKEN not in text


def test_errors_never_carry_the_token_or_query_secrets(secured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secured.configure(p_503=0.0, fail_404=["con_000002"])
    hook = ReliableHttpHook(http_conn_id=CONN_ID)
    with pytest.raises(RecordRejected) as rejected:
        hook.run("/v1/contacts/con_000002?api_key=qs_SECRET_1&page=1")
    text = str(rejected.value) + repr(rejected.value.__dict__)
    assert "qs_SECRET_1" not in text
    assert "api_key=***" in text
    assert TOKEN not in text

    wrong = {
        "conn_type": "reliable_http",
        "host": secured.url,
        "extra": {"Authorization": "Bearer tok_WRONG_9d2"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(wrong))
    with pytest.raises(AuthenticationError) as denied:
        ReliableHttpHook(http_conn_id=CONN_ID).run("/v1/contacts")
    assert denied.value.status == 403
    assert "tok_WRONG_9d2" not in str(denied.value) + repr(denied.value.__dict__)
