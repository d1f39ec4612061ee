"""The DLQ browser as Airflow mounts it: real users and tokens, a real state DB, real entries."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from reliable_api.deadletter.queue import DeadLetterQueue
from tests.integration.plugin.conftest import browser, file_dead_letters, token


def entry_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-entry="(\d+)">', html)]


def test_every_route_needs_an_authenticated_user(airflow_app: Any, state_db: Engine) -> None:
    client = TestClient(airflow_app)
    for path in ("/reliable-api/dlq", "/reliable-api/dlq/1", "/reliable-api/api/dlq", "/reliable-api/health"):
        answer = client.get(path)
        assert answer.status_code == 401, path
    assert "/auth/login" in client.get("/reliable-api/dlq").text
    forged = client.get("/reliable-api/api/dlq", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 403
    assert client.post("/reliable-api/dlq/1/discard").status_code == 401


def test_list_is_most_recent_first_with_counts_per_integration_and_status(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"}), ("c-2", {"id": "c-2"})])
    file_dead_letters(state_db, "billing", [("b-1", {"id": "b-1"})], dag_id="billing_sync")
    queue = DeadLetterQueue(state_db)
    queue.transition("discarded", by="someone", integration="crm_contacts", record_keys=["c-1"])

    page = browser(airflow_app, auth_manager, "vera", "viewer").client.get("/reliable-api/dlq")
    assert page.status_code == 200
    assert entry_ids(page.text) == [e.id for e in queue.find(limit=10)]
    assert entry_ids(page.text)[0] == queue.find(integration="billing")[0].id  # filed last
    api = TestClient(airflow_app).get(
        "/reliable-api/api/dlq", headers={"Authorization": f"Bearer {token(auth_manager, 'vera', 'viewer')}"}
    )
    assert api.json()["counts"] == {"billing": {"open": 1}, "crm_contacts": {"open": 1, "discarded": 1}}
    assert api.json()["total"] == 3


def test_filters_and_an_unknown_status_is_a_400_naming_the_allowed_ones(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"}), ("c-2", {"id": "c-2"})])
    file_dead_letters(state_db, "billing", [("b-1", {"id": "b-1"})], dag_id="billing_sync")
    queue = DeadLetterQueue(state_db)
    queue.transition("discarded", by="someone", integration="crm_contacts", record_keys=["c-2"])
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    crm_open = client.get("/reliable-api/dlq", params={"integration": "crm_contacts", "status": "open"})
    assert entry_ids(crm_open.text) == [
        e.id for e in queue.find(integration="crm_contacts", statuses=["open"])
    ]
    assert len(entry_ids(crm_open.text)) == 1
    billing = client.get("/reliable-api/api/dlq", params={"integration": "billing"}).json()
    assert [e["record_key"] for e in billing["entries"]] == ["b-1"]

    bad = client.get("/reliable-api/dlq", params={"status": "lost"})
    assert bad.status_code == 400
    assert "&#39;lost&#39;" in bad.text
    assert "open, replayed, resolved, discarded" in bad.text
    assert (
        client.get("/reliable-api/api/dlq", params={"status": "lost"})
        .json()["detail"]
        .startswith("unknown status 'lost'")
    )


def test_pages_of_fifty(airflow_app: Any, auth_manager: Any, state_db: Engine) -> None:
    file_dead_letters(state_db, "crm_contacts", [(f"c-{n:03}", {"n": n}) for n in range(120)])
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    every = [e.id for e in DeadLetterQueue(state_db).find(limit=200)]

    first, third = client.get("/reliable-api/dlq"), client.get("/reliable-api/dlq", params={"page": 3})
    assert entry_ids(first.text) == every[:50]
    assert entry_ids(third.text) == every[100:]
    assert "page 3 of 3" in third.text
    assert 'rel="next" href="/reliable-api/dlq?page=2"' in first.text
    assert 'rel="next"' not in third.text
    assert client.get("/reliable-api/dlq", params={"page": 0}).status_code == 422
    api = client.get("/reliable-api/api/dlq", params={"limit": 7, "offset": 110}).json()
    assert [e["id"] for e in api["entries"]] == every[110:117]
    assert api["total"] == 120


def test_an_unknown_id_is_a_404_naming_it(airflow_app: Any, auth_manager: Any, state_db: Engine) -> None:
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    page = client.get("/reliable-api/dlq/424242")
    assert page.status_code == 404
    assert "no dead letter has id 424242" in page.text
    assert client.get("/reliable-api/api/dlq/424242").json() == {"detail": "no dead letter has id 424242"}


def test_the_entry_page_shows_every_field_and_redacted_fields_as_redacted(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    payload = {"id": "c-7", "email": "ana@example.com", "phone": "+44 20 7946 0958"}
    file_dead_letters(
        state_db, "crm_contacts", [("c-7", payload)], redact=("email",), message="email bounced"
    )
    (entry,) = DeadLetterQueue(state_db).find()
    stored_hash = entry.payload["email"] if entry.payload else ""
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    page = client.get(f"/reliable-api/dlq/{entry.id}")
    assert page.status_code == 200
    for shown in (
        "crm_contacts",
        "c-7",
        "RecordRejected",
        "email bounced",
        "422",
        "open",
        "+44 20 7946 0958",
    ):
        assert shown in page.text
    assert "redacted (not stored, not replayed)" in page.text
    assert "ana@example.com" not in page.text
    assert stored_hash not in page.text
    assert 'href="/dags/crm_contacts_sync/runs/manual__2026-11-24/tasks/load"' in page.text
    assert entry.first_seen.strftime("%Y-%m-%d %H:%M:%S") in page.text

    data = client.get(f"/reliable-api/api/dlq/{entry.id}").json()
    assert data["redacted_fields"] == ["email"]
    assert data["payload"]["email"] == stored_hash
    assert "ana@example.com" not in str(data)
    assert data["attempts"] == 1
    assert data["dag_id"] == "crm_contacts_sync"


def test_hostile_strings_are_shown_as_text_never_as_markup(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    hostile = "<script>alert('x')</script>"
    file_dead_letters(
        state_db,
        "crm_contacts",
        [(f"<img src=x onerror=alert(1)>{hostile}", {"name": hostile, hostile: "x"})],
        message=f"bad name {hostile}",
    )
    (entry,) = DeadLetterQueue(state_db).find()
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    for path in ("/reliable-api/dlq", f"/reliable-api/dlq/{entry.id}"):
        html = client.get(path).text
        assert html.count("<script>") == 1  # the page's own theme script, no other
        assert "<script>alert(" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html
