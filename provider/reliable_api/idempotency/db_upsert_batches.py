"""The input of a database upsert as JSON Lines batches: bytes the database parses itself.

A staged batch's gzip parts are decompressed and cut at line ends, never decoded record by
record; in-memory records are encoded once each with the C JSON encoder. Either way a batch
holds at most ``size`` records, so memory stays bounded whatever the input's size.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from reliable_api.exceptions import RecordRejected


@dataclass
class LineBatch:
    """Up to ``size`` records as JSON Lines: one JSON value per line, each line ended by a newline.

    :param refused: records that could not be encoded as JSON at all, with the reason.
    """

    data: bytes
    lines: int
    refused: list[tuple[Any, RecordRejected]] = field(default_factory=list)
    _split: list[bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def split(self) -> list[bytes]:
        """The lines (line ``n`` at index ``n - 1``), to take out the records the database refused.

        Split once: the loader takes out the doubted lines, then the refused ones are decoded.
        """
        if self._split is None:
            self._split = self.data.split(b"\n")
        return self._split


@dataclass
class BatchOutcome:
    """What a loader did with one batch: rows inserted and updated, identical duplicates, refusals.

    :param refused: ``(line, reason, message)`` of each record the loader or the database refused.
    """

    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)


def record_batches(records: Iterable[Any], size: int) -> Iterator[LineBatch]:
    """``records`` (dicts) as batches of ``size``; values JSON cannot hold are refused by record."""
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        lines: list[str] = []
        refused: list[tuple[Any, RecordRejected]] = []
        for record in chunk:
            try:
                lines.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
            except (TypeError, ValueError) as error:
                refused.append(
                    (
                        record,
                        RecordRejected(
                            f"record is not JSON-serialisable: {error}", reason="not_json_serialisable"
                        ),
                    )
                )
        data = ("\n".join(lines) + "\n").encode() if lines else b""
        yield LineBatch(data, len(lines), refused)


def staged_batches(staged: Mapping[str, Any] | str, size: int) -> Iterator[LineBatch]:
    """The parts of a staged batch (its XCom dict or directory) as batches of at most ``size``."""
    from reliable_api.staging.files import as_path, staged_batch

    batch = staged_batch(staged)
    directory = as_path(batch.path)
    for name in batch.parts:
        data = gzip.decompress((directory / name).read_bytes())
        if data and not data.endswith(b"\n"):
            data += b"\n"
        lines = data.count(b"\n")
        if lines <= size:
            yield LineBatch(data, lines)
            continue
        split = data.split(b"\n")[:-1]
        for start in range(0, lines, size):
            part = split[start : start + size]
            yield LineBatch(b"\n".join(part) + b"\n", len(part))
