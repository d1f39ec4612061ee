"""``ApiExtractOperator`` killed between staging a part and writing its checkpoint: no page twice.

A SIGKILL can land after a part and the manifest listing it are written but before the
checkpoint naming the next page is: the retry resumes from the older checkpoint and fetches the
part's pages again. Here the "kill" is an exception that no code of the operator catches, raised
by the checkpoint write of a chosen flush; the next try must stage every record exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.operators import extract
from reliable_api.operators.extract import CHECKPOINT, ApiExtractOperator
from reliable_api.staging.files import read_records
from reliable_api.testing.sandbox.server import SandboxServer

CONN_ID = "extract_crash_sandbox"


class Killed(BaseException):
    """The process died here: nothing after this line ran."""


@pytest.mark.parametrize("killed_at", [1, 2, 4])
def test_a_kill_after_a_part_before_its_checkpoint_stages_no_page_twice(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed_at: int
) -> None:
    conn = {"conn_type": "reliable_http", "host": sandbox.url, "extra": {"limiter_backend": "memory"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    write_json = extract._write_json
    checkpoints = 0

    def dies_at_a_checkpoint(path: Any, value: Any) -> None:
        nonlocal checkpoints
        if path.name == CHECKPOINT:
            checkpoints += 1
            if checkpoints == killed_at:
                raise Killed
        write_json(path, value)

    context = {"ti": SimpleNamespace(dag_id="dag", run_id="run", task_id="extract", map_index=-1)}
    task = ApiExtractOperator(
        task_id="extract",
        http_conn_id=CONN_ID,
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=50),
        part_size=100,
        staging_root=str(tmp_path),
    )
    monkeypatch.setattr(extract, "_write_json", dies_at_a_checkpoint)
    with pytest.raises(Killed):
        task.execute(context)
    monkeypatch.setattr(extract, "_write_json", write_json)
    summary = task.execute(context)

    ids = [record["id"] for record in read_records(summary)]
    assert len(ids) == len(set(ids)) == 500
    assert summary["records"] == 500
