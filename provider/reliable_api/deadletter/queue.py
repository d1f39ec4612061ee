"""``DeadLetterQueue``: browse dead letters and move them through their life.

Statuses and who moves an entry between them::

    open ──replay──▶ replayed ──load succeeded──▶ resolved
     ▲                  │
     └──failed again────┘          open / replayed ──a person──▶ discarded

A record that fails again is open again whatever its status was (:class:`DeadLetterStore.add`).
``replayed`` means "sent back through the load path, outcome not known yet": a replay that dies
half-way leaves entries there, and the next replay takes them again, which is safe because every
load is idempotent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reliable_api.deadletter.store import REDACTED_PREFIX
from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine, RowMapping
    from sqlalchemy.sql.elements import ColumnElement

STATUSES = ("open", "replayed", "resolved", "discarded")
#: Where each manual or replay transition may start from.
_TRANSITIONS = {
    "replayed": ("open", "replayed"),
    "resolved": ("replayed",),
    "discarded": ("open", "replayed"),
}


@dataclass(frozen=True)
class DeadLetter:
    """One entry: a record that failed for good, where, how and how often."""

    id: int
    integration: str
    record_key: str
    status: str
    attempts: int
    error_class: str
    http_status: int | None
    message: str
    first_seen: datetime
    last_seen: datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    try_number: int | None
    payload: Mapping[str, Any] | None
    status_changed_by: str | None
    status_changed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON can hold it (times in ISO 8601)."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
        }


class UnknownDeadLetter(LookupError):
    """No dead letter has that id."""


class DeadLetterQueue:
    """The dead letters of the state DB behind ``engine``, for people, the CLI, the UI and replay.

    :param engine: the state DB (see :mod:`reliable_api.state.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(
        self,
        *,
        integration: str | None = None,
        statuses: Collection[str] = (),
        ids: Collection[int] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[DeadLetter]:
        """Entries, most recently failed first, filtered by integration, status and id."""
        from sqlalchemy import select

        from reliable_api.state.schema import dead_letters

        query = (
            select(dead_letters)
            .where(*self._filters(integration, statuses, ids))
            .order_by(dead_letters.c.last_seen.desc(), dead_letters.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query).mappings()]

    def get(self, entry_id: int) -> DeadLetter:
        """One entry.

        :raises UnknownDeadLetter: when there is none with that id.
        """
        found = self.find(ids=[entry_id], limit=1)
        if not found:
            raise UnknownDeadLetter(f"no dead letter has id {entry_id}")
        return found[0]

    def counts(self) -> dict[str, dict[str, int]]:
        """Entries per integration and status, e.g. ``{"crm": {"open": 3, "resolved": 9}}``."""
        from sqlalchemy import func, select

        from reliable_api.state.schema import dead_letters

        query = select(dead_letters.c.integration, dead_letters.c.status, func.count()).group_by(
            dead_letters.c.integration, dead_letters.c.status
        )
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for integration, status, count in conn.execute(query):
                counts.setdefault(integration, {})[status] = count
        return counts

    def transition(
        self,
        to: str,
        *,
        by: str,
        integration: str | None = None,
        ids: Collection[int] = (),
        record_keys: Collection[str] = (),
        statuses: Collection[str] = (),
        marked_by: str | None = None,
    ) -> int:
        """Move the matching entries to status ``to``; return how many moved.

        Only entries whose status allows the move (see the module docstring) change; the others
        are left as they are, so a discard never hides a record that was resolved meanwhile.

        :param by: who or what moved them (a user name, ``dag/task/run``), stored with the time.
        :param statuses: narrow the starting statuses further.
        :param marked_by: only entries whose last status change was by this (a replay's id).
        :raises ConfigurationError: for an unknown target status.
        """
        from sqlalchemy import update

        from reliable_api.state.schema import dead_letters, utcnow

        if to not in _TRANSITIONS:
            raise ConfigurationError(f"cannot move dead letters to {to!r}: one of {sorted(_TRANSITIONS)}")
        allowed = [status for status in _TRANSITIONS[to] if not statuses or status in statuses]
        filters = self._filters(integration, allowed, ids)
        if record_keys:
            filters.append(dead_letters.c.record_key.in_(list(record_keys)))
        if marked_by is not None:
            filters.append(dead_letters.c.status_changed_by == marked_by)
        statement = (
            update(dead_letters)
            .where(*filters)
            .values(status=to, status_changed_by=by[:250], status_changed_at=utcnow())
        )
        with self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    @staticmethod
    def _filters(
        integration: str | None, statuses: Collection[str], ids: Collection[int]
    ) -> list[ColumnElement[bool]]:
        from reliable_api.state.schema import dead_letters

        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ConfigurationError(f"unknown dead-letter status {sorted(unknown)}: one of {list(STATUSES)}")
        filters: list[ColumnElement[bool]] = []
        if integration is not None:
            filters.append(dead_letters.c.integration == integration)
        if statuses:
            filters.append(dead_letters.c.status.in_(list(statuses)))
        if ids:
            filters.append(dead_letters.c.id.in_(list(ids)))
        return filters


def replayable_payload(entry: DeadLetter) -> dict[str, Any] | None:
    """The entry's payload without its redacted fields, which only hold a hash of the value.

    ``None`` for an entry stored without a payload (nothing to send back).
    """
    if entry.payload is None:
        return None
    return {name: value for name, value in entry.payload.items() if not _is_redacted(value)}


def redacted_fields(entry: DeadLetter) -> list[str]:
    """The payload fields stored as a hash only: a replay cannot send them."""
    payload = entry.payload or {}
    return sorted(name for name, value in payload.items() if _is_redacted(value))


def _is_redacted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(REDACTED_PREFIX)


def _entry(row: RowMapping) -> DeadLetter:
    return DeadLetter(**{name: row[name] for name in DeadLetter.__dataclass_fields__})
