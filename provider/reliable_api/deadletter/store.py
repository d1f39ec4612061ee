"""``DeadLetterStore``: add failed records to the state DB's dead-letter table.

One row per (integration, record key): a record that fails again updates its row (attempts,
last seen, error) instead of adding one, and is open again whatever its status was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ReliableApiError
from reliable_api.idempotency.keys import canonical_json
from reliable_api.state.task import TaskIdentity

if TYPE_CHECKING:
    from sqlalchemy import Engine

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
            upsert_rows(
                conn,
                dead_letters,
                list(rows.values()),
                key=["integration", "record_key"],
                replace=[*_FAILURE_COLUMNS],
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
