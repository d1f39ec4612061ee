"""The dead-letter list by reason and field, and bulk discard of a filtered set after a confirmation."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine

from reliable_api.deadletter.queue import DeadLetterQueue
from tests.integration.plugin.conftest import browser, file_dead_letters

EMAIL = "normalization failed: email: invalid_email (no @); phone: phone_too_short"
BODY = 'HTTP 422 from POST /contacts: {"errors": [{"field": "company", "message": "too long"}]}'


def seed(engine: Engine) -> None:
    file_dead_letters(
        engine, "crm_contacts", [(f"e-{n}", {"id": n}) for n in range(5)], message=EMAIL, status=None
    )
    file_dead_letters(engine, "crm_contacts", [(f"b-{n}", {"id": n}) for n in range(3)], message=BODY)
    file_dead_letters(
        engine, "billing", [("x-1", {"id": 1})], dag_id="billing_sync", message="gone", status=404
    )


def test_the_list_shows_reason_and_field_and_counts_by_reason(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    seed(state_db)
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    page = client.get("/reliable-api/dlq?integration=crm_contacts").text
    reasons = re.findall(r'<tr data-reason="([^"]+)"', page)
    assert reasons == ["invalid_email", "HTTP 422"]  # the most frequent first
    assert page.count('<td class="reason" title="normalization failed: email: invalid_email') == 5
    assert page.count('<td class="field"><code>email</code>') == 5
    assert page.count('<td class="field"><code>company</code>') == 3

    only = client.get("/reliable-api/dlq", params={"integration": "crm_contacts", "reason": "HTTP 422"}).text
    assert '<span class="total">3</span>' in only
    data = client.get("/reliable-api/api/dlq", params={"reason": "invalid_email"}).json()
    assert data["total"] == 5
    assert {(e["reason"], e["field"]) for e in data["entries"]} == {("invalid_email", "email")}
    assert {"reason": "HTTP 404", "field": None, "count": 1} in data["reasons"]  # billing's


def test_bulk_discard_asks_first_then_discards_only_the_filtered_set(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    seed(state_db)
    admin = browser(airflow_app, auth_manager, "ada", "admin")
    filters = {"integration": "crm_contacts", "reason": "invalid_email"}
    confirm = admin.client.get("/reliable-api/dlq/bulk", params={"action": "discard", **filters})
    assert confirm.status_code == 200
    assert '<p id="bulk-count">5 entries will be discarded' in confirm.text
    queue = DeadLetterQueue(state_db)
    assert all(entry.status == "open" for entry in queue.find(limit=20))  # asking changed nothing

    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)
    assert token is not None
    form = {"csrf_token": token.group(1), "action": "discard", **filters}
    unconfirmed = admin.post_form("/reliable-api/dlq/bulk", form)
    assert unconfirmed.status_code == 400
    done = admin.post_form("/reliable-api/dlq/bulk", {**form, "confirm": "yes"})
    assert done.status_code == 200
    assert "5 dead letters discarded by ada" in done.text
    statuses = {entry.record_key: entry.status for entry in queue.find(limit=20)}
    discarded = sorted(key for key, state in statuses.items() if state == "discarded")
    assert discarded == [f"e-{n}" for n in range(5)]
    assert statuses["b-0"] == statuses["x-1"] == "open"


def test_a_viewer_may_not_bulk_discard(airflow_app: Any, auth_manager: Any, state_db: Engine) -> None:
    seed(state_db)
    viewer = browser(airflow_app, auth_manager, "vera", "viewer")
    confirm = viewer.client.get("/reliable-api/dlq/bulk", params={"action": "discard"})
    assert '<p id="bulk-count">0 entries will be discarded' in confirm.text
    assert "9 of DAGs you may not edit" in confirm.text
    assert "Yes, discard" not in confirm.text
