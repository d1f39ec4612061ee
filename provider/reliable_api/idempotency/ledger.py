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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Column, Engine

#: How long a claim holds when its owner neither finishes nor releases it (a crash).
DEFAULT_LEASE_SECONDS = 600.0
#: The longest natural key the ledger stores.
MAX_KEY_LENGTH = 512
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
        from sqlalchemy import select

        from reliable_api.state.schema import ledger

        wanted = list(keys)
        found: dict[str, LedgerEntry] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), READ_CHUNK):
                rows = conn.execute(
                    select(*_entry_columns()).where(
                        ledger.c.integration == self.integration,
                        ledger.c.record_key.in_(wanted[start : start + READ_CHUNK]),
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
        from sqlalchemy import literal, or_, select, update

        from reliable_api.state.dialect import dialect_insert
        from reliable_api.state.schema import ledger, utcnow

        now = utcnow()
        where = (ledger.c.integration == self.integration, ledger.c.record_key == key)
        with self.engine.begin() as conn:
            intent = dialect_insert(conn.dialect.name, ledger).values(
                integration=self.integration,
                record_key=key,
                status="pending",
                payload_hash=payload_hash,
                idempotency_key=idempotency_key,
                attempts=0,
                updated_at=now,
            )
            conn.execute(intent.on_conflict_do_nothing(index_elements=["integration", "record_key"]))
            # Atomic under concurrency: a competing UPDATE waits for ours, then re-checks the WHERE.
            won = conn.execute(
                update(ledger)
                .where(
                    *where,
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
                )
            ).rowcount
            if not won:
                return None
            row = conn.execute(select(*_entry_columns()).where(*where)).one()
            return LedgerEntry(*row)

    def mark_created(self, key: str, remote_id: str, payload_hash: str) -> None:
        """Record that ``key`` exists remotely as ``remote_id`` with this content; end the claim."""
        from sqlalchemy import update

        from reliable_api.state.schema import ledger, utcnow

        with self.engine.begin() as conn:
            conn.execute(
                update(ledger)
                .where(ledger.c.integration == self.integration, ledger.c.record_key == key)
                .values(
                    status="created",
                    remote_id=remote_id,
                    payload_hash=payload_hash,
                    idempotency_key=None,
                    claimed_by=None,
                    claimed_until=None,
                    updated_at=utcnow(),
                )
            )

    def release(self, key: str) -> None:
        """End this owner's claim on ``key`` and leave the entry as it is (e.g. still pending)."""
        from sqlalchemy import update

        from reliable_api.state.schema import ledger

        with self.engine.begin() as conn:
            conn.execute(
                update(ledger)
                .where(
                    ledger.c.integration == self.integration,
                    ledger.c.record_key == key,
                    ledger.c.claimed_by == self.owner,
                )
                .values(claimed_by=None, claimed_until=None)
            )


def _entry_columns() -> tuple[Column[Any], ...]:
    from reliable_api.state.schema import ledger

    c = ledger.c
    return (c.record_key, c.status, c.payload_hash, c.remote_id, c.idempotency_key, c.attempts)
