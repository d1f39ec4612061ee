"""``DeadLetterStore.add``: one row per record, updated when it fails again; redaction."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, select

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import RecordRejected
from reliable_api.state.engine import make_engine
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


def test_many_failures_are_written_in_one_call(state_db: Engine, integration: str) -> None:
    store = DeadLetterStore(state_db, redact=["token"])
    task = TaskIdentity(dag_id="d", task_id="validate", run_id="r1", try_number=1)
    store.add(integration, "k00002", {"n": -1}, RecordRejected("earlier", status=422), task)
    failures = [(f"k{n:05d}", {"n": n, "token": "s3cret"}, RecordRejected(f"bad {n}")) for n in range(2000)]
    failures.append(("k00007", {"n": 7, "token": "s3cret"}, RecordRejected("bad 7 again")))

    written = store.add_many(integration, failures, task)

    by_key = {row.record_key: row for row in rows(state_db)}
    assert written == len(by_key) == 2000
    assert (by_key["k00002"].attempts, by_key["k00002"].message) == (2, "bad 2")
    assert (by_key["k00007"].attempts, by_key["k00007"].message) == (1, "bad 7 again")  # last wins
    assert by_key["k01999"].payload["token"].startswith("redacted:")
    assert store.add_many(integration, [], task) == 0


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


def _fail_all(url: str, integration: str, keys: list[str], results: multiprocessing.Queue[int]) -> None:
    store = DeadLetterStore(make_engine(url))
    for key in keys:
        store.add(integration, key, {"key": key}, RecordRejected("bad", status=422))
    results.put(len(keys))


def test_processes_failing_the_same_records_at_once_share_one_entry_each(
    state_url: str, state_db: Engine, integration: str, run_processes: Callable[..., list[Any]]
) -> None:
    keys = [f"key-{n}" for n in range(60)]
    orders = [keys, keys[::-1], keys[30:] + keys[:30]]
    run_processes(_fail_all, *[(state_url, integration, order) for order in orders])
    attempts = {row.record_key: row.attempts for row in rows(state_db) if row.integration == integration}
    assert attempts == dict.fromkeys(keys, len(orders))


def test_times_are_stored_as_utc_instants_with_microseconds(state_db: Engine, integration: str) -> None:
    DeadLetterStore(state_db).add(integration, "k", None, RecordRejected("bad"))
    paris = timezone(timedelta(hours=1))
    failed_at = datetime(2026, 11, 23, 23, 59, 58, 123456, tzinfo=paris)
    with state_db.begin() as conn:
        conn.execute(dead_letters.update().values(status_changed_at=failed_at))
    stored = rows(state_db)[0].status_changed_at
    # Aware on PostgreSQL and MySQL; SQLite's DATETIME text comes back naive, in UTC.
    assert stored.replace(tzinfo=stored.tzinfo or timezone.utc) == failed_at
    assert stored.utcoffset() in (None, timedelta(0))
