"""``DeadLetterStore.add``: one row per record, updated when it fails again; redaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import RecordRejected
from reliable_api.state.schema import dead_letters
from reliable_api.state.task import TaskIdentity


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(dead_letters)))


def test_a_record_failing_again_updates_its_entry(state_db: Engine, integration: str) -> None:
    store = DeadLetterStore(state_db)
    task = TaskIdentity(dag_id="d", task_id="t", run_id="r1", try_number=1)
    store.add(integration, "a@x.io", {"email": "a@x.io"}, RecordRejected("bad", status=422), task)
    store.add(integration, "b@x.io", {"email": "b@x.io"}, RecordRejected("bad", status=400), task)
    later = TaskIdentity(dag_id="d", task_id="t", run_id="r2", try_number=2)
    store.add(integration, "a@x.io", {"email": "a@x.io"}, RecordRejected("worse", status=404), later)

    by_key = {row.record_key: row for row in rows(state_db)}
    assert len(by_key) == 2
    entry = by_key["a@x.io"]
    assert (entry.attempts, entry.http_status, entry.run_id, entry.status) == (2, 404, "r2", "open")
    assert entry.message.startswith("worse")
    assert entry.error_class == "RecordRejected"
    assert entry.last_seen >= entry.first_seen


def test_redacted_fields_are_salted_hashes(state_db: Engine, integration: str) -> None:
    store = DeadLetterStore(state_db, redact=["email", "phone"])
    payload = {"email": "a@x.io", "phone": "+331", "name": "Ann"}
    store.add(integration, "k1", payload, RecordRejected("bad"))
    store.add(integration, "k2", {**payload, "name": "Bob"}, RecordRejected("bad"))
    first, second = (row.payload for row in rows(state_db))
    assert first["name"] == "Ann"
    assert first["email"].startswith("redacted:")
    assert "a@x.io" not in str(first)
    assert first["email"] == second["email"]  # the same value matches within one state DB


def test_values_json_cannot_hold_are_kept_as_text(state_db: Engine, integration: str) -> None:
    DeadLetterStore(state_db).add(integration, "k", {"tags": {"a"}, "n": 1}, RecordRejected("bad"))
    assert rows(state_db)[0].payload == {"tags": "{'a'}", "n": 1}
