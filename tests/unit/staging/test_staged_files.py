from __future__ import annotations

import math
from pathlib import Path

import pytest

from reliable_api.exceptions import ConfigurationError, RecordRejected
from reliable_api.staging.files import (
    MANIFEST,
    StagedBatch,
    StagedWriter,
    read_manifest,
    read_records,
    task_staging_dir,
)


def records(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"id": i, "name": f"rec-{i}", "tags": ["a", "é"]} for i in range(start, start + n)]


def test_round_trip_in_parts(tmp_path: Path) -> None:
    writer = StagedWriter(str(tmp_path / "batch"), part_size=4)
    writer.write(records(10))
    batch = writer.close()
    assert batch.records == 10
    assert batch.parts == ["part-00000.jsonl.gz", "part-00001.jsonl.gz", "part-00002.jsonl.gz"]
    assert list(read_records(batch)) == records(10)
    assert list(read_records(batch.to_xcom())) == records(10)
    assert list(read_records(str(tmp_path / "batch"))) == records(10)


def test_empty_batch_is_a_valid_batch(tmp_path: Path) -> None:
    batch = StagedWriter(str(tmp_path / "empty")).close()
    assert batch.records == 0
    assert list(read_records(str(tmp_path / "empty"))) == []


def test_manifest_lists_only_complete_parts(tmp_path: Path) -> None:
    writer = StagedWriter(str(tmp_path / "b"), part_size=3)
    writer.write(records(5))  # one full part written, two records still buffered
    on_disk = read_manifest(str(tmp_path / "b"))
    assert on_disk is not None
    assert (on_disk.records, on_disk.parts) == (3, ["part-00000.jsonl.gz"])


def test_resume_continues_after_the_last_complete_part(tmp_path: Path) -> None:
    first = StagedWriter(str(tmp_path / "b"), part_size=3)
    first.write(records(5))  # crash here: records 3 and 4 were never flushed
    second = StagedWriter(str(tmp_path / "b"), part_size=3, resume=True)
    second.write(records(7, start=3))
    batch = second.close()
    assert [r["id"] for r in read_records(batch)] == list(range(10))


def test_start_over_discards_the_previous_manifest(tmp_path: Path) -> None:
    StagedWriter(str(tmp_path / "b"), part_size=2).write(records(4))
    batch = StagedWriter(str(tmp_path / "b"), part_size=2).close()
    assert batch.records == 0
    assert list(read_records(str(tmp_path / "b"))) == []


@pytest.mark.parametrize("bad", [math.nan, {1, 2}, object()])
def test_unserialisable_record_is_rejected_with_its_position(tmp_path: Path, bad: object) -> None:
    writer = StagedWriter(str(tmp_path / "b"), part_size=10)
    writer.write(records(2))
    with pytest.raises(RecordRejected, match="record 2 cannot be staged as JSON") as info:
        writer.write([{"id": 2, "value": bad}])
    assert info.value.reason == "not_json_serialisable"
    assert [r["id"] for r in read_records(writer.close())] == [0, 1]


def test_missing_batch_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"no staged batch \\(no {MANIFEST}\\)"):
        list(read_records(str(tmp_path / "nothing")))


def test_malformed_xcom_reference_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="not a staged batch reference"):
        StagedBatch.from_xcom({"path": "/x"})


def test_task_dir_is_stable_and_safe(tmp_path: Path) -> None:
    a = task_staging_dir(str(tmp_path), dag_id="d", run_id="manual__2026-01-01T00:00:00+00:00", task_id="t")
    b = task_staging_dir(str(tmp_path), dag_id="d", run_id="manual__2026-01-01T00:00:00+00:00", task_id="t")
    assert a == b
    assert str(a).endswith("/d/manual__2026-01-01T00_00_00_00_00/t")
    mapped = task_staging_dir(str(tmp_path), dag_id="d", run_id="r", task_id="t", map_index=3)
    assert str(mapped).endswith("/d/r/t.3")
    escaped = task_staging_dir(str(tmp_path), dag_id="../../etc", run_id="r", task_id="t")
    assert "/../" not in str(escaped)
    dotted = task_staging_dir(str(tmp_path), dag_id="..", run_id=".", task_id="t")
    assert str(dotted).endswith("/_/_/t")


def test_without_autoflush_parts_end_where_the_caller_flushes(tmp_path: Path) -> None:
    writer = StagedWriter(str(tmp_path / "b"), part_size=2, autoflush=False)
    writer.write(records(5))
    assert writer.buffered == 5
    assert read_manifest(str(tmp_path / "b")).records == 0  # type: ignore[union-attr]
    writer.flush()
    writer.write(records(1, start=5))
    batch = writer.close()
    assert batch.parts == ["part-00000.jsonl.gz", "part-00001.jsonl.gz"]
    assert [r["id"] for r in read_records(batch)] == list(range(6))
