"""The ID ledger: what an integration already wrote to an API, per natural key.

Each entry is either a *pending intent* (a create that may or may not have reached the API, with
the ``Idempotency-Key`` it was or will be sent with) or *created* (the remote id and the hash of
the content last written). Every operation is one transaction.

Concurrency: before any request for a key, a process *claims* the entry: a lease
(``claimed_by``, ``claimed_until``) set by a conditional ``UPDATE``, which only one process can
win while the lease is held. A lease left by a crashed process expires; the same owner (the same
task instance on its next try) takes its own leases back at once.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Column, ColumnElement, Connection, Engine

#: How long a claim holds when its owner neither finishes nor releases it (a crash).
DEFAULT_LEASE_SECONDS = 600.0
#: Keys per ``SELECT ... IN``: well below the bound-parameter limits of SQLite and PostgreSQL.
READ_CHUNK = 500


@dataclass(frozen=True)
class LedgerEntry:
    """One natural key's state.

    :param status: ``"pending"`` (an intent to create) or ``"created"``.
    :param payload_hash: the content hash of the intent, or of the content last written.
    :param remote_id: the API's id, once known.
    :param idempotency_key: the key the pending create is sent with.
    :param attempts: how many times the entry was claimed; above 1, an earlier claim may have
        sent the create already.
    """

    record_key: str
    status: str
    payload_hash: str
    remote_id: str | None
    idempotency_key: str | None
    attempts: int


def default_owner() -> str:
    """An owner name unique to this process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Ledger:
    """The ledger entries of one integration in the state DB.

    :param engine: the state DB.
    :param integration: the name the entries are kept under, e.g. ``"crm_contacts"``.
    :param owner: who claims entries; give every try of one task instance the same owner so a
        retry takes over the claims of a crashed try at once.
    :param lease_seconds: how long a claim holds without its owner finishing it.
    """

    def __init__(
        self,
        engine: Engine,
        integration: str,
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.engine = engine
        self.integration = integration
        self.owner = owner or default_owner()
        self.lease = timedelta(seconds=lease_seconds)

    def get_many(self, keys: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries of ``keys`` that exist (read only, no claim)."""
        with self.engine.connect() as conn:
            return self._read(conn, list(keys))

    def _read(self, conn: Connection, keys: list[str], *where: ColumnElement[bool]) -> dict[str, LedgerEntry]:
        from sqlalchemy import select

        from reliable_api.state.schema import ledger

        found: dict[str, LedgerEntry] = {}
        for start in range(0, len(keys), READ_CHUNK):
            rows = conn.execute(
                select(*_entry_columns()).where(
                    ledger.c.integration == self.integration,
                    ledger.c.record_key.in_(keys[start : start + READ_CHUNK]),
                    *where,
                )
            )
            found.update((row.record_key, LedgerEntry(*row)) for row in rows)
        return found

    def claim(self, key: str, payload_hash: str, idempotency_key: str) -> LedgerEntry | None:
        """Claim ``key``, writing a pending intent first when the key is unknown.

        A pending intent that exists keeps its own hash and idempotency key: they describe a
        create that may already have been sent.

        :returns: the entry as claimed, or ``None`` while another owner's lease holds it.
        """
        return self.claim_many([(key, payload_hash, idempotency_key)])[key]

    def claim_many(self, intents: Iterable[tuple[str, str, str]]) -> dict[str, LedgerEntry | None]:
        """:meth:`claim` each (key, payload hash, idempotency key), in one transaction.

        Keys are claimed in sorted order, so two runs claiming overlapping sets at once wait for
        each other instead of deadlocking.
        """
        from sqlalchemy.exc import IntegrityError

        rows = sorted(intents)
        if len(rows) < 2:  # the read that spares one insert per key would cost as much
            return self._claim_sorted(rows, None)
        known = set(self.get_many(key for key, _, _ in rows))
        try:
            return self._claim_sorted(rows, known)
        except IntegrityError:  # another run wrote one of the intents since: insert them one by one
            return self._claim_sorted(rows, None)

    def _claim_sorted(
        self, rows: list[tuple[str, str, str]], known: set[str] | None
    ) -> dict[str, LedgerEntry | None]:
        """Write the missing intents (all at once, when ``known`` says which exist), then claim."""
        from sqlalchemy import bindparam, insert, literal, or_, update

        from reliable_api.state.dialect import insert_missing
        from reliable_api.state.schema import ledger, utcnow

        now = utcnow()
        intents = [
            {
                "integration": self.integration,
                "record_key": key,
                "status": "pending",
                "payload_hash": payload_hash,
                "idempotency_key": idempotency_key,
                "attempts": 0,
                "updated_at": now,
            }
            for key, payload_hash, idempotency_key in rows
            if known is None or key not in known
        ]
        with self.engine.begin() as conn:  # its first statement writes: no read lock to upgrade
            if known is not None and intents:
                conn.execute(insert(ledger), intents)
            for intent in intents if known is None else ():
                insert_missing(conn, ledger, intent, key=["integration", "record_key"])
            # Atomic under concurrency: a competing UPDATE waits for ours, then re-checks the WHERE.
            # One statement for every key (compiled once), run key by key in sorted order.
            conn.execute(
                update(ledger)
                .where(
                    ledger.c.integration == self.integration,
                    ledger.c.record_key == bindparam("b_key"),
                    or_(
                        ledger.c.claimed_by.is_(None),
                        ledger.c.claimed_by == self.owner,
                        ledger.c.claimed_until < now,
                    ),
                )
                .values(
                    claimed_by=self.owner,
                    claimed_until=now + self.lease,
                    attempts=ledger.c.attempts + literal(1),
                    updated_at=now,
                ),
                [{"b_key": key} for key, _, _ in rows],
            )
            # Every entry this owner holds now is one it won (or held already, from a crashed try).
            held = self._read(conn, [key for key, _, _ in rows], ledger.c.claimed_by == self.owner)
        return {key: held.get(key) for key, _, _ in rows}

    def mark_created(self, key: str, remote_id: str, payload_hash: str) -> None:
        """Record that ``key`` exists remotely as ``remote_id`` with this content; end the claim."""
        self.settle({key: (remote_id, payload_hash)})

    def assign_key(self, keys: Iterable[str], idempotency_key: str) -> None:
        """Give this owner's pending intents of ``keys`` the key of the batch they are sent in."""
        from reliable_api.state.schema import ledger

        where = (ledger.c.status == "pending", ledger.c.claimed_by == self.owner)
        self._update_keys(keys, {"idempotency_key": idempotency_key}, *where)

    def settle(
        self,
        created: Mapping[str, tuple[str, str]],
        unsent: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """Write what one answer of the API said, in one transaction.

        :param created: record key -> (remote id, payload hash) of the records the API created;
            their claims end.
        :param unsent: record key -> (payload hash, idempotency key) of the records the API
            answered that it did not create: pending again as intents never sent (their next
            claim is not a recovery), still claimed.
        """
        from sqlalchemy import bindparam, update

        from reliable_api.state.schema import ledger, utcnow

        now = utcnow()
        this_key = (ledger.c.integration == self.integration, ledger.c.record_key == bindparam("b_key"))
        with self.engine.begin() as conn:
            if created:
                conn.execute(
                    update(ledger)
                    .where(*this_key)
                    .values(
                        status="created",
                        remote_id=bindparam("b_remote_id"),
                        payload_hash=bindparam("b_hash"),
                        idempotency_key=None,
                        claimed_by=None,
                        claimed_until=None,
                        updated_at=now,
                    ),
                    [
                        {"b_key": key, "b_remote_id": remote_id, "b_hash": payload_hash}
                        for key, (remote_id, payload_hash) in created.items()
                    ],
                )
            if unsent:
                conn.execute(
                    update(ledger)
                    .where(*this_key, ledger.c.status == "pending")
                    .values(
                        payload_hash=bindparam("b_hash"),
                        idempotency_key=bindparam("b_idempotency_key"),
                        attempts=0,
                        updated_at=now,
                    ),
                    [
                        {"b_key": key, "b_hash": payload_hash, "b_idempotency_key": idempotency_key}
                        for key, (payload_hash, idempotency_key) in unsent.items()
                    ],
                )

    def release(self, key: str) -> None:
        """End this owner's claim on ``key`` and leave the entry as it is (e.g. still pending)."""
        self.release_many([key])

    def release_many(self, keys: Iterable[str]) -> None:
        """End this owner's claims on ``keys`` and leave the entries as they are."""
        from reliable_api.state.schema import ledger

        values = {"claimed_by": None, "claimed_until": None}
        self._update_keys(keys, values, ledger.c.claimed_by == self.owner)

    def _update_keys(
        self, keys: Iterable[str], values: Mapping[str, Any], *where: ColumnElement[bool]
    ) -> None:
        """Set ``values`` on the entries of ``keys`` that match ``where``, in one transaction."""
        from sqlalchemy import update

        from reliable_api.state.schema import ledger

        wanted = list(keys)
        with self.engine.begin() as conn:
            for start in range(0, len(wanted), READ_CHUNK):
                chunk = wanted[start : start + READ_CHUNK]
                conn.execute(
                    update(ledger)
                    .where(ledger.c.integration == self.integration, ledger.c.record_key.in_(chunk), *where)
                    .values(**values)
                )


def _entry_columns() -> tuple[Column[Any], ...]:
    from reliable_api.state.schema import ledger

    c = ledger.c
    return (c.record_key, c.status, c.payload_hash, c.remote_id, c.idempotency_key, c.attempts)
