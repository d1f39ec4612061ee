"""The dead-letter queue: browse, move through statuses, stage a replay and settle it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reliable_api.deadletter.queue import DeadLetterQueue, UnknownDeadLetter
from reliable_api.deadletter.replay import REPLAY_KEY, settle_replay, stage_replay
from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import ConfigurationError, RecordRejected
from reliable_api.staging.files import read_records
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import metadata
from reliable_api.state.task import TaskIdentity

TASK = TaskIdentity(dag_id="crm", task_id="load", run_id="run_1", try_number=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
        with engine.begin() as conn:  # the session database is shared: start from no entries
            conn.exec_driver_sql("DELETE FROM rapi_dead_letters")
    yield engine
    if request.param != "sqlite":  # leave the shared database as the state tests expect it: no tables
        metadata.drop_all(engine)
    engine.dispose()


def fail(store: DeadLetterStore, integration: str, key: str, **payload: Any) -> None:
    error = RecordRejected(f"{key} was refused", reason="invalid", status=422)
    store.add(integration, key, {"email": key, **payload}, error, TASK)


def test_find_filters_and_orders_most_recent_first(engine: Any) -> None:
    store = DeadLetterStore(engine)
    for key in ("a", "b", "c"):
        fail(store, "crm", key)
    fail(store, "erp", "z")
    queue = DeadLetterQueue(engine)
    assert [entry.record_key for entry in queue.find(integration="crm")] == ["c", "b", "a"]
    assert queue.counts() == {"crm": {"open": 3}, "erp": {"open": 1}}
    entry = queue.get(queue.find(integration="erp")[0].id)
    assert (entry.error_class, entry.http_status, entry.dag_id, entry.payload) == (
        "RecordRejected",
        422,
        "crm",
        {"email": "z"},
    )
    assert entry.to_dict()["first_seen"].startswith(str(entry.first_seen.year))
    with pytest.raises(UnknownDeadLetter, match="no dead letter has id 999999"):
        queue.get(999_999)
    with pytest.raises(ConfigurationError, match="unknown dead-letter status"):
        queue.find(statuses=["opened"])


def test_transitions_follow_the_life_of_an_entry(engine: Any) -> None:
    store = DeadLetterStore(engine)
    fail(store, "crm", "a")
    fail(store, "crm", "b")
    queue = DeadLetterQueue(engine)
    b, a = queue.find()  # most recent first
    assert queue.transition("resolved", by="x", ids=[a.id]) == 0  # only a replayed entry resolves
    assert queue.transition("discarded", by="ops@example.com", ids=[a.id]) == 1
    discarded = queue.get(a.id)
    assert (discarded.status, discarded.status_changed_by) == ("discarded", "ops@example.com")
    assert discarded.status_changed_at is not None
    assert queue.transition("replayed", by="r", ids=[a.id, b.id]) == 1  # a discarded one stays
    fail(store, "crm", "b")  # failing again re-opens a replayed entry
    assert (queue.get(b.id).status, queue.get(b.id).attempts) == ("open", 2)
    with pytest.raises(ConfigurationError, match="cannot move dead letters to 'open'"):
        queue.transition("open", by="x", ids=[a.id])


def test_a_discarded_entry_stays_discarded_until_its_record_changes(engine: Any) -> None:
    store = DeadLetterStore(engine, redact=["token"])
    fail(store, "crm", "a", phone="N/A", token="s3cret")
    queue = DeadLetterQueue(engine)
    [entry] = queue.find()
    queue.transition("discarded", by="ops@example.com", ids=[entry.id])

    fail(store, "crm", "a", phone="N/A", token="s3cret")  # the next sync: same content
    fail(store, "crm", "a", phone="N/A", token="s3cret")
    again = queue.get(entry.id)
    assert (again.status, again.status_changed_by, again.attempts) == ("discarded", "ops@example.com", 3)
    assert again.last_seen > entry.last_seen

    fail(store, "crm", "a", phone="+1 555", token="s3cret")  # the record changed at its source
    reopened = queue.get(entry.id)
    assert reopened.status == "open"
    assert reopened.attempts == 4
    assert reopened.payload == {"email": "a", "phone": "+1 555", "token": again.payload["token"]}
    assert reopened.status_changed_by is not None
    assert reopened.status_changed_by.startswith("re-opened: the record changed after ops@example.com")
    assert reopened.status_changed_at is not None

    queue.transition("discarded", by="ops@example.com", ids=[entry.id])
    fail(store, "crm", "a", phone="+1 555", token="0ther")  # a redacted field changed: a change too
    assert queue.get(entry.id).status == "open"


def test_replay_stages_payloads_and_settles_what_came_through(engine: Any, tmp_path: Path) -> None:
    store = DeadLetterStore(engine, redact=["token"])
    for key in ("a", "b", "c"):
        fail(store, "crm", key, token="s3cret")
    queue = DeadLetterQueue(engine)
    batch = stage_replay(queue, integration="crm", directory=str(tmp_path / "replay"), replay_id="replay:1")
    staged = batch.to_xcom()
    assert staged[REPLAY_KEY] == {"integration": "crm", "id": "replay:1", "entries": 3}
    assert sorted(record["email"] for record in read_records(staged)) == ["a", "b", "c"]
    assert all("token" not in record for record in read_records(staged))  # only its hash was kept
    assert sorted(map(tuple, batch.without_fields.values())) == [("token",)] * 3
    assert {entry.status for entry in queue.find()} == {"replayed"}

    fail(store, "crm", "b")  # the load path fails "b" again
    assert settle_replay(queue, staged) == 2
    statuses = {entry.record_key: entry.status for entry in queue.find()}
    assert statuses == {"a": "resolved", "b": "open", "c": "resolved"}
    assert settle_replay(queue, {"path": "x", "records": 0, "parts": []}) == 0  # not a replay


def test_a_replay_settles_only_its_own_entries(engine: Any, tmp_path: Path) -> None:
    store = DeadLetterStore(engine)
    fail(store, "crm", "a")
    fail(store, "crm", "b")
    queue = DeadLetterQueue(engine)
    first_id, second_id = (entry.id for entry in queue.find())
    one = stage_replay(
        queue, integration="crm", directory=str(tmp_path / "1"), replay_id="r1", ids=[first_id]
    )
    stage_replay(queue, integration="crm", directory=str(tmp_path / "2"), replay_id="r2", ids=[second_id])
    assert settle_replay(queue, one.to_xcom()) == 1
    assert {entry.id: entry.status for entry in queue.find()} == {first_id: "resolved", second_id: "replayed"}
