"""Gzip JSON Lines parts under one directory, with a manifest written last.

A staged batch is a directory ``<root>/<dag_id>/<run_id>/<task_id>/`` holding
``part-00000.jsonl.gz``, ``part-00001.jsonl.gz``, ... and ``_manifest.json``. The manifest is
written after every part, so a reader never takes a half-written batch for a whole one, and a
writer that crashed can resume after its last complete part.

The directory is an ``ObjectStoragePath``, so the root can be ``file://`` or ``s3://`` alike.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import provider_home
from reliable_api.exceptions import ConfigurationError, RecordRejected

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

MANIFEST = "_manifest.json"
DEFAULT_PART_SIZE = 50_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def write_whole(path: ObjectStoragePath, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader finds the old content or the new, never a part.

    A process killed in a plain ``write_text`` leaves the file truncated, and the retry that
    reads it to resume fails for good. Written beside it first, then renamed over it (a rename
    on a local disk; a copy on an object store, whose writes are whole objects anyway).
    """
    draft = path.with_name(f".{path.name}.writing")
    draft.write_text(text)
    draft.rename(path)


def default_staging_root() -> str:
    """``file://$AIRFLOW_HOME/reliable_api/staging``, the root when an operator names none."""
    return f"file://{provider_home() / 'staging'}"


def as_path(location: str | ObjectStoragePath) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for ``location`` (a URL such as ``s3://bucket/x`` or a path)."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(location, ObjectStoragePath):
        return location
    return ObjectStoragePath(location if "://" in location else f"file://{os.path.abspath(location)}")


def task_staging_dir(
    root: str | ObjectStoragePath, *, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> ObjectStoragePath:
    """The staging directory of one task of one run; every retry of the task gets the same one."""
    parts = [dag_id, run_id, task_id if map_index < 0 else f"{task_id}.{map_index}"]
    # Ids become path components: no separators, no "..", nothing a shell or S3 would mangle.
    return as_path(root).joinpath(*(_UNSAFE.sub("_", part).lstrip(".") or "_" for part in parts))


def task_instance_dir(ti: Any, root: str | ObjectStoragePath | None = None) -> ObjectStoragePath:
    """:func:`task_staging_dir` of the running task instance ``ti`` (``context["ti"]``).

    :param root: the staging root; default :func:`default_staging_root`.
    """
    map_index = getattr(ti, "map_index", None)
    return task_staging_dir(
        root or default_staging_root(),
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=-1 if map_index is None else map_index,
    )


@dataclass
class StagedBatch:
    """What XCom carries about a staged batch: where it is and how many records it holds."""

    path: str
    records: int
    parts: list[str] = field(default_factory=list)

    def to_xcom(self) -> dict[str, Any]:
        """A small JSON-safe dict for XCom."""
        return {"path": self.path, "records": self.records, "parts": list(self.parts)}

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> StagedBatch:
        """Rebuild from :meth:`to_xcom` output, naming what is missing when it is malformed."""
        try:
            return cls(path=str(value["path"]), records=int(value["records"]), parts=list(value["parts"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigurationError(f"not a staged batch reference: {value!r} ({error})") from None


class StagedWriter:
    """Write records to a staged batch, one gzip JSON Lines part per ``part_size`` records.

    :param directory: the batch directory; created if missing.
    :param part_size: records per part.
    :param resume: continue an existing batch after its last complete part instead of starting
        over (for a task resuming after a deferral or a retry); given the batch as a checkpoint
        saw it, continue after that checkpoint's parts: a later part the manifest lists was
        staged after the checkpoint, by a try that died before it could record where it was.
    :param autoflush: write a part as soon as ``part_size`` records are buffered; ``False`` leaves
        it to :meth:`flush`, for writers that must cut parts at their own boundaries (pages).
    """

    def __init__(
        self,
        directory: str | ObjectStoragePath,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        resume: bool | StagedBatch = False,
        autoflush: bool = True,
    ) -> None:
        if part_size < 1:
            raise ConfigurationError(f"part_size must be >= 1, got {part_size}")
        self.directory = as_path(directory)
        self.part_size = part_size
        self.autoflush = autoflush
        self.directory.mkdir(parents=True, exist_ok=True)
        if isinstance(resume, StagedBatch):
            self.batch = StagedBatch(str(self.directory), resume.records, list(resume.parts))
        else:
            previous = read_manifest(self.directory) if resume else None
            self.batch = previous or StagedBatch(path=str(self.directory), records=0)
        self._buffer: list[str] = []
        if resume is not True:
            self._write_manifest()

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add ``records``; full parts are written as they fill.

        :raises RecordRejected: for a record that cannot be written as JSON (NaN, a set, ...),
            naming its position; the records before it are kept.
        """
        for record in records:
            try:
                line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as error:
                position = self.batch.records + len(self._buffer)
                raise RecordRejected(
                    f"record {position} cannot be staged as JSON: {error}", reason="not_json_serialisable"
                ) from None
            self._buffer.append(line)
            if self.autoflush and len(self._buffer) >= self.part_size:
                self.flush()

    @property
    def buffered(self) -> int:
        """Records written but not yet in a part."""
        return len(self._buffer)

    def flush(self) -> None:
        """Write the buffered records as one part, then the manifest that lists it."""
        if not self._buffer:
            return
        name = f"part-{len(self.batch.parts):05d}.jsonl.gz"
        data = gzip.compress(("\n".join(self._buffer) + "\n").encode(), compresslevel=5)
        (self.directory / name).write_bytes(data)
        self.batch.parts.append(name)
        self.batch.records += len(self._buffer)
        self._buffer = []
        self._write_manifest()

    def close(self) -> StagedBatch:
        """Flush what is buffered and return the batch reference."""
        self.flush()
        return self.batch

    def _write_manifest(self) -> None:
        manifest = {"records": self.batch.records, "parts": self.batch.parts}
        write_whole(self.directory / MANIFEST, json.dumps(manifest))


def read_manifest(directory: str | ObjectStoragePath) -> StagedBatch | None:
    """The batch whose manifest is in ``directory``, or None when there is none yet."""
    path = as_path(directory)
    manifest = path / MANIFEST
    if not manifest.exists():
        return None
    data = json.loads(manifest.read_text())
    return StagedBatch(path=str(path), records=int(data["records"]), parts=list(data["parts"]))


def staged_batch(batch: StagedBatch | Mapping[str, Any] | str) -> StagedBatch:
    """The :class:`StagedBatch` of ``batch``: itself, its XCom dict, or the batch directory.

    :raises ConfigurationError: when the directory holds no staged batch.
    """
    if isinstance(batch, str):
        found = read_manifest(batch)
        if found is None:
            raise ConfigurationError(f"no staged batch (no {MANIFEST}) at {batch}")
        return found
    return batch if isinstance(batch, StagedBatch) else StagedBatch.from_xcom(batch)


def read_records(batch: StagedBatch | Mapping[str, Any] | str) -> Iterator[dict[str, Any]]:
    """Yield the records of a staged batch in the order they were written.

    :param batch: a :class:`StagedBatch`, its XCom dict, or the batch directory.
    :raises ConfigurationError: when the directory holds no staged batch.
    """
    batch = staged_batch(batch)
    directory = as_path(batch.path)
    for name in batch.parts:
        # A part is at most part_size records: reading it whole is cheaper than streaming.
        for line in gzip.decompress((directory / name).read_bytes()).decode("utf-8").splitlines():
            yield json.loads(line)
