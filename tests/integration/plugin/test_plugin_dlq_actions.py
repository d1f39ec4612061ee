"""Discard and replay from the pages: who may, from where, in which state, recorded how."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from reliable_api.deadletter.queue import DeadLetter, DeadLetterQueue
from tests.integration.plugin.conftest import browser, file_dead_letters, token


def only_entry(engine: Engine) -> DeadLetter:
    (entry,) = DeadLetterQueue(engine).find()
    return entry


def test_discard_through_the_form_records_the_user(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"})])
    entry = only_entry(state_db)
    user = browser(airflow_app, auth_manager, "uma", "user")
    form = {"csrf_token": user.form_token(entry.id)}

    done = user.post_form(f"/reliable-api/dlq/{entry.id}/discard", form)
    assert done.status_code == 303
    assert done.headers["location"] == f"/reliable-api/dlq/{entry.id}?notice=discarded"
    after = only_entry(state_db)
    assert (after.status, after.status_changed_by) == ("discarded", "uma")
    page = user.client.get(done.headers["location"]).text
    assert "Discarded: this entry will not be replayed." in page
    assert 'id="entry-status">discarded<' in page

    assert "Only open or replayed entries can be discarded or replayed" in page
    again = user.post_form(f"/reliable-api/dlq/{entry.id}/discard", form)
    assert again.status_code == 409
    assert (
        f"dead letter {entry.id} is discarded: only open or replayed entries can be discarded" in again.text
    )
    assert only_entry(state_db).status_changed_at == after.status_changed_at


def test_forged_and_cross_origin_posts_change_nothing(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"})])
    entry = only_entry(state_db)
    user = browser(airflow_app, auth_manager, "uma", "user")
    path = f"/reliable-api/dlq/{entry.id}/discard"
    good = user.form_token(entry.id)
    other = browser(airflow_app, auth_manager, "mallory", "user").form_token(entry.id)

    assert user.post_form(path, {}).status_code == 403
    assert user.post_form(path, {"csrf_token": other}).status_code == 403
    assert user.post_form(path, {"csrf_token": good}, origin="https://evil.example").status_code == 403
    assert user.post_form(path, {"csrf_token": good}, origin=None).status_code == 403
    assert only_entry(state_db).status == "open"


def test_a_viewer_may_read_but_not_discard(airflow_app: Any, auth_manager: Any, state_db: Engine) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"})])
    entry = only_entry(state_db)
    viewer = browser(airflow_app, auth_manager, "vera", "viewer")
    page = viewer.client.get(f"/reliable-api/dlq/{entry.id}").text
    assert "You may read but not edit entries of this DAG." in page

    refused = viewer.post_form(
        f"/reliable-api/dlq/{entry.id}/discard", {"csrf_token": viewer.form_token(entry.id)}
    )
    assert refused.status_code == 403
    assert "vera may not edit DAG &#39;crm_contacts_sync&#39;" in refused.text
    assert only_entry(state_db).status == "open"


def test_scripts_discard_with_a_bearer_token_and_no_csrf(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"})])
    entry = only_entry(state_db)
    headers = {"Authorization": f"Bearer {token(auth_manager, 'ci-bot', 'user')}"}
    answer = TestClient(airflow_app).post(f"/reliable-api/api/dlq/{entry.id}/discard", headers=headers)
    assert answer.status_code == 200
    assert answer.json()["entry"]["status"] == "discarded"
    assert answer.json()["entry"]["status_changed_by"] == "ci-bot"
    again = TestClient(airflow_app).post(f"/reliable-api/api/dlq/{entry.id}/discard", headers=headers)
    assert again.status_code == 409
    assert again.json()["done"] is False


def test_users_see_and_act_on_only_the_dags_their_auth_manager_allows(
    own_dags_auth_manager: Any, state_db: Engine
) -> None:
    from airflow.api_fastapi.app import init_plugins
    from fastapi import FastAPI

    app = FastAPI()
    init_plugins(app)
    file_dead_letters(state_db, "crm_contacts", [("a-1", {"id": "a-1"})], dag_id="ana_sync")
    file_dead_letters(state_db, "crm_contacts", [("b-1", {"id": "b-1"})], dag_id="bob_sync")
    file_dead_letters(state_db, "crm_contacts", [("cli-1", {"id": "cli-1"})], dag_id=None)
    by_key = {e.record_key: e for e in DeadLetterQueue(state_db).find()}
    ana = browser(app, own_dags_auth_manager, "ana", "admin")

    listing = ana.client.get("/reliable-api/api/dlq").json()
    assert [e["record_key"] for e in listing["entries"]] == ["a-1"]
    assert listing["counts"] == {"crm_contacts": {"open": 1}}
    assert ana.client.get(f"/reliable-api/dlq/{by_key['b-1'].id}").status_code == 403
    no_dag = ana.client.get(f"/reliable-api/dlq/{by_key['cli-1'].id}")
    assert no_dag.status_code == 403
    assert "all DAGs (the entry has no DAG)" in no_dag.text
    path = f"/reliable-api/dlq/{by_key['b-1'].id}/discard"
    assert ana.post_form(path, {"csrf_token": ana.form_token(by_key["a-1"].id)}).status_code == 403
    assert {e.status for e in DeadLetterQueue(state_db).find()} == {"open"}
    assert ana.client.get("/reliable-api/health").status_code == 403


@pytest.fixture(scope="module")
def replay_dag_in_metadata_db(airflow_env: None) -> None:
    """The sample DAGs (``crm_contacts_replay`` among them) serialized into the metadata DB."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"], check=True, capture_output=True, timeout=300
    )


@pytest.fixture
def dag_runs() -> Iterator[list[Any]]:
    """The replay DAG's runs created during the test (none before: other tests of the worker share
    the metadata DB and may have left runs of it; deleted after)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "crm_contacts_replay").delete()
    created: list[Any] = []
    yield created
    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "crm_contacts_replay").delete()


def replay_runs() -> list[tuple[str, Any, str | None, str, str | None]]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == "crm_contacts_replay").all()
        return [(r.run_id, r.conf, r.triggering_user_name, str(r.state), r.note) for r in runs]


@pytest.mark.usefixtures("replay_dag_in_metadata_db")
def test_replay_queues_a_run_of_the_integrations_replay_dag(
    airflow_app: Any, auth_manager: Any, state_db: Engine, dag_runs: list[Any]
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"}), ("c-2", {"id": "c-2"})])
    entry = DeadLetterQueue(state_db).find()[0]
    user = browser(airflow_app, auth_manager, "uma", "user")
    assert "Replay via crm_contacts_replay" in user.client.get(f"/reliable-api/dlq/{entry.id}").text

    queued = user.post_form(f"/reliable-api/dlq/{entry.id}/replay", {"csrf_token": user.form_token(entry.id)})
    assert queued.status_code == 303
    ((run_id, conf, by, state, note),) = replay_runs()
    assert (conf, by, state) == ({"ids": str(entry.id)}, "uma", "queued")
    assert note == f"Replay of dead letters {entry.id} requested by uma"
    assert f"run={run_id}" in queued.headers["location"]
    page = user.client.get(queued.headers["location"]).text
    assert f'href="/dags/crm_contacts_replay/runs/{run_id}"' in page
    # The replay DAG's own operator marks the entry when it runs; the page only asked for it.
    assert DeadLetterQueue(state_db).get(entry.id).status == "open"


@pytest.mark.usefixtures("replay_dag_in_metadata_db")
def test_replay_refuses_what_it_cannot_send_back(
    airflow_app: Any,
    auth_manager: Any,
    state_db: Engine,
    dag_runs: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"}), ("c-2", None)])
    file_dead_letters(state_db, "billing", [("b-1", {"id": "b-1"})], dag_id="billing_sync")
    queue = DeadLetterQueue(state_db)
    by_key = {e.record_key: e for e in queue.find()}
    queue.transition("replayed", by="replay:x", ids=[by_key["c-1"].id])
    queue.transition("resolved", by="replay:x", ids=[by_key["c-1"].id])
    user = browser(airflow_app, auth_manager, "uma", "user")

    def replay(key: str) -> Any:
        entry_id = by_key[key].id
        return user.post_form(
            f"/reliable-api/dlq/{entry_id}/replay", {"csrf_token": user.form_token(entry_id)}
        )

    resolved = replay("c-1")
    assert resolved.status_code == 409
    assert "is resolved: only open or replayed entries can be replayed; nothing changed" in resolved.text
    assert "has no payload: there is nothing to send back" in replay("c-2").text
    unknown = replay("b-1")
    assert unknown.status_code == 409
    assert "no replay DAG for integration &#39;billing&#39;" in unknown.text
    assert replay_runs() == []

    monkeypatch.setenv("AIRFLOW__RELIABLE_API__REPLAY_DAGS", json.dumps({"billing": "crm_contacts_replay"}))
    assert replay("b-1").status_code == 303
    assert [run[1] for run in replay_runs()] == [{"ids": str(by_key["b-1"].id)}]


@pytest.mark.usefixtures("replay_dag_in_metadata_db")
def test_bulk_replay_queues_one_run_with_every_chosen_entry(
    airflow_app: Any, auth_manager: Any, state_db: Engine, dag_runs: list[Any]
) -> None:
    import re

    file_dead_letters(
        state_db, "crm_contacts", [(f"c-{n}", {"id": n}) for n in range(3)] + [("c-none", None)]
    )
    user = browser(airflow_app, auth_manager, "uma", "user")
    confirm = user.client.get(
        "/reliable-api/dlq/bulk", params={"action": "replay", "integration": "crm_contacts"}
    )
    assert '<p id="bulk-count">3 entries will be sent back' in confirm.text
    assert "1 without a payload" in confirm.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)
    assert token is not None
    form = {"csrf_token": token.group(1), "action": "replay", "integration": "crm_contacts", "confirm": "yes"}
    done = user.post_form("/reliable-api/dlq/bulk", form)
    assert "of crm_contacts_replay queued for 3 entries" in done.text
    ((_, conf, by, state, _),) = replay_runs()
    with_payload = sorted(e.id for e in DeadLetterQueue(state_db).find() if e.payload is not None)
    assert (sorted(int(i) for i in conf["ids"].split(",")), by, state) == (with_payload, "uma", "queued")
