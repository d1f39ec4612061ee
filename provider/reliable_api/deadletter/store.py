"""``DeadLetterStore``: add failed records to the state DB's dead-letter table.

One row per (integration, record key): a record that fails again updates its row (attempts,
last seen, error) instead of adding one, and is open again, except a discarded one: a person gave
that record up, so it stays discarded while it keeps failing with the same content, and is
re-opened, with a note saying so, only when the record changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from reliable_api.core.keys import canonical_json
from reliable_api.exceptions import ReliableApiError
from reliable_api.state.task import TaskIdentity

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: How a redacted value starts: ``"redacted:<salted sha256>"``.
REDACTED_PREFIX = "redacted:"
#: How long a stored message may be; the error's own body is already truncated.
MAX_MESSAGE_CHARS = 4000
#: What a new failure of a record already in the queue replaces in its entry.
_FAILURE_COLUMNS = (
    "dag_id",
    "task_id",
    "run_id",
    "try_number",
    "payload",
    "error_class",
    "http_status",
    "message",
    "last_seen",
    "status",
    "status_changed_by",
    "status_changed_at",
)
#: What a new failure of a discarded record with unchanged content replaces: not its status.
_STILL_DISCARDED_COLUMNS = tuple(c for c in _FAILURE_COLUMNS if not c.startswith("status"))
#: Keys per ``SELECT ... IN`` when looking for discarded entries.
_READ_CHUNK = 500


class DeadLetterStore:
    """Dead letters of the state DB behind ``engine``.

    :param engine: the state DB (see :mod:`reliable_api.state.engine`).
    :param redact: payload fields replaced by ``"redacted:<salted sha256>"`` before storing:
        equal values give equal hashes within this state DB (entries can still be matched),
        but the value cannot be read back.
    """

    def __init__(self, engine: Engine, *, redact: Collection[str] = ()) -> None:
        self.engine = engine
        self.redact = frozenset(redact)

    def add(
        self,
        integration: str,
        record_key: str,
        payload: Mapping[str, Any] | None,
        error: ReliableApiError,
        task: TaskIdentity | None = None,
    ) -> None:
        """Store the failure of one record, or update the entry of the same record.

        :param task: the task try that failed it, when known.
        """
        self.add_many(integration, [(record_key, payload, error)], task)

    def add_many(
        self,
        integration: str,
        failures: Iterable[tuple[str, Mapping[str, Any] | None, ReliableApiError]],
        task: TaskIdentity | None = None,
    ) -> int:
        """Store many failed records ``(record key, payload, error)`` in one transaction.

        A key already in the queue has its entry updated (attempts + 1, last seen, the error, the
        task try) and open again; a key given twice keeps its last failure. Returns the entries
        written.
        """
        from reliable_api.state.dialect import upsert_rows
        from reliable_api.state.schema import dead_letters, utcnow

        now = utcnow()
        task = task or TaskIdentity()
        rows: dict[str, dict[str, Any]] = {}
        for record_key, payload, error in failures:
            rows[record_key] = {
                "integration": integration,
                "record_key": record_key,
                "attempts": 1,
                "first_seen": now,
                "dag_id": task.dag_id,
                "task_id": task.task_id,
                "run_id": task.run_id,
                "try_number": task.try_number,
                "payload": _json_safe(self.redacted(payload)) if payload is not None else None,
                "error_class": type(error).__name__,
                "http_status": error.status,
                "message": str(error)[:MAX_MESSAGE_CHARS],
                "last_seen": now,
                "status": "open",
                "status_changed_by": None,
                "status_changed_at": None,
            }
        with self.engine.begin() as conn:
            kept = _keep_discarded(conn, integration, rows)
            for group, columns in (
                ([row for key, row in rows.items() if key not in kept], _FAILURE_COLUMNS),
                ([rows[key] for key in kept], _STILL_DISCARDED_COLUMNS),
            ):
                upsert_rows(
                    conn,
                    dead_letters,
                    group,
                    key=["integration", "record_key"],
                    replace=[*columns],
                    increment="attempts",
                )
        return len(rows)

    def redacted(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``payload`` with the fields in ``redact`` replaced by their salted hash."""
        if not self.redact & payload.keys():
            return dict(payload)
        salt = self._salt
        return {
            name: _salted_hash(salt, value) if name in self.redact else value
            for name, value in payload.items()
        }

    @cached_property
    def _salt(self) -> bytes:
        from reliable_api.state.schema import read_meta

        return read_meta(self.engine, "redaction_salt").encode()


def _keep_discarded(conn: Connection, integration: str, rows: Mapping[str, dict[str, Any]]) -> set[str]:
    """The keys of ``rows`` whose entry was discarded and whose payload is unchanged.

    A discarded entry whose record changed is re-opened: its row gets a note in
    ``status_changed_by`` naming who had discarded it.
    """
    from sqlalchemy import select

    from reliable_api.state.schema import dead_letters

    c = dead_letters.c
    keys, kept = list(rows), set()
    for start in range(0, len(keys), _READ_CHUNK):
        found = conn.execute(
            select(c.record_key, c.payload, c.status_changed_by, c.status_changed_at).where(
                c.integration == integration,
                c.status == "discarded",
                c.record_key.in_(keys[start : start + _READ_CHUNK]),
            )
        )
        for key, payload, by, at in found:
            if payload == rows[key]["payload"]:
                kept.add(key)
            else:
                when = f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""
                rows[key]["status_changed_by"] = (
                    f"re-opened: the record changed after {by} discarded it{when}"[:250]
                )
                rows[key]["status_changed_at"] = rows[key]["last_seen"]
    return kept


def _salted_hash(salt: bytes, value: Any) -> str:
    try:
        text = canonical_json(value)
    except ReliableApiError:
        text = repr(value)
    return f"{REDACTED_PREFIX}{hmac.new(salt, text.encode(), hashlib.sha256).hexdigest()[:32]}"


def _json_safe(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` as the JSON column can hold it.

    A record rejected for values JSON cannot represent keeps them as their ``repr``, so the entry
    shows what was wrong.
    """
    try:
        return dict(json.loads(json.dumps(payload, allow_nan=False)))
    except (TypeError, ValueError):
        return {str(name): _json_value(value) for name, value in payload.items()}


def _json_value(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return repr(value)
