"""In-memory records of the sandbox's resources, with natural-key indexes.

Natural keys are compared trimmed and case-folded, as most CRMs compare emails and domains, so
``" Ada@Example.com"`` and ``"ada@example.com"`` are the same person.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from reliable_api.testing.sandbox.data import Record


@dataclass(frozen=True)
class ResourceSpec:
    """What distinguishes a resource.

    :param name: URL name (``contacts``).
    :param id_prefix: prefix of server-assigned ids (``con`` -> ``con_000123``).
    :param primary_key: the natural key people know the record by (``email``).
    :param natural_keys: every field that identifies a record, primary key first.
    """

    name: str
    id_prefix: str
    primary_key: str
    natural_keys: tuple[str, ...]


MAX_CACHED_LISTINGS = 16

RESOURCES = {
    "contacts": ResourceSpec("contacts", "con", "email", ("email", "external_id")),
    "companies": ResourceSpec("companies", "cmp", "domain", ("domain", "external_id")),
}


def normalize_key(value: object) -> str:
    """The form in which natural keys are compared."""
    return str(value).strip().casefold()


def id_number(record_id: str) -> int:
    """The sequence number of a server-assigned id (``con_000123`` -> 123); ids sort by it."""
    return int(record_id.rpartition("_")[2])


class Collection:
    """The records of one resource in id order, indexed by natural key.

    :param spec: the resource.
    :param records: initial records, in increasing id order.
    """

    def __init__(self, spec: ResourceSpec, records: Iterable[Record]) -> None:
        self.spec = spec
        self._records: dict[str, Record] = {}
        self._index: dict[str, dict[str, list[str]]] = {key: {} for key in spec.natural_keys}
        self._last_number = 0
        self._listings: dict[str | None, list[str]] = {}
        for record in records:
            self._add(record)

    def get(self, record_id: str) -> Record | None:
        """The record with this id, if any."""
        return self._records.get(record_id)

    def find(self, field: str, value: str) -> list[Record]:
        """All records whose natural key ``field`` equals ``value`` (normalized), in id order."""
        ids = self._index[field].get(normalize_key(value), [])
        return [self._records[record_id] for record_id in ids]

    def existing_id(self, record: Record) -> str | None:
        """The id of the first record sharing a natural key with ``record``, if any."""
        for field in self.spec.natural_keys:
            if record.get(field) is not None:
                ids = self._index[field].get(normalize_key(record[field]))
                if ids:
                    return ids[0]
        return None

    def insert(self, fields: Record, updated_at: str) -> Record:
        """Store a new record with the next id.

        :param fields: the client's fields; ``id`` and ``updated_at`` are the server's.
        :param updated_at: the server time of the change.
        """
        record = {
            **fields,
            "id": f"{self.spec.id_prefix}_{self._last_number + 1:06d}",
            "updated_at": updated_at,
        }
        self._add(record)
        return record

    def update(self, record_id: str, changes: Record, updated_at: str) -> Record:
        """Merge ``changes`` into an existing record (its id stays).

        :param record_id: id of a stored record.
        :param changes: fields to set.
        :param updated_at: the server time of the change.
        """
        record = self._records[record_id]
        self._listings.clear()
        self._unindex(record)
        record.update(changes)
        record["id"], record["updated_at"] = record_id, updated_at
        self._reindex(record)
        return record

    def ids_updated_since(self, since: str | None) -> list[str]:
        """Ids in order of records with ``updated_at >= since`` (all when ``since`` is None).

        The list is shared between calls until the next write: do not modify it.

        :param since: a timestamp in :data:`~reliable_api.testing.sandbox.data.TIMESTAMP_FORMAT`.
        """
        # A client walking pages asks for the same listing again and again; scanning a large
        # collection for each page would make a full walk quadratic. Writes invalidate.
        listing = self._listings.get(since)
        if listing is None:
            if len(self._listings) >= MAX_CACHED_LISTINGS:
                del self._listings[next(iter(self._listings))]
            listing = self._listings[since] = [
                record_id
                for record_id, record in self._records.items()
                if since is None or str(record["updated_at"]) >= since
            ]
        return listing

    def remove(self, record_id: str) -> Record | None:
        """Delete the record with this id; return it, or ``None`` when there was none."""
        record = self._records.pop(record_id, None)
        if record is not None:
            self._listings.clear()
            self._unindex(record)
        return record

    def records(self, ids: Iterable[str]) -> Iterator[Record]:
        """The records with these ids."""
        return (self._records[record_id] for record_id in ids)

    def _add(self, record: Record) -> None:
        record_id = str(record["id"])
        self._records[record_id] = record
        self._listings.clear()
        self._last_number = max(self._last_number, id_number(record_id))
        self._reindex(record)

    def _reindex(self, record: Record) -> None:
        for field, index in self._index.items():
            if record.get(field) is not None:
                ids = index.setdefault(normalize_key(record[field]), [])
                bisect.insort(ids, str(record["id"]), key=id_number)

    def _unindex(self, record: Record) -> None:
        for field, index in self._index.items():
            if record.get(field) is not None:
                index[normalize_key(record[field])].remove(str(record["id"]))
