"""Every route of the plugin's app, read from its route table (a route added later is covered the
day it is added): anonymous requests are refused, changes need edit permission and a same-site
form, and hostile query values are harmless (no server error, no markup, no SQL)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect

from reliable_api.deadletter.queue import DeadLetterQueue
from reliable_api.plugin import URL_PREFIX
from tests.integration.plugin.conftest import browser, file_dead_letters, token

HOSTILE = [
    "'; DROP TABLE reliable_api_dead_letters; --",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "%00",
    "\u202e\u0000",
    "x" * 5000,
    "-1",
    "1e309",
]


def routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the plugin's app, with ids filled in."""
    from reliable_api.plugin.app import create_app

    found = []
    for route in create_app().routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            path = route.path.replace("{entry_id}", "1").replace("{action}", "discard")
            found.append((method, f"{URL_PREFIX}{path}"))
    assert found, "the plugin mounts no route"
    return found


def statuses(engine: Engine) -> list[str]:
    return [entry.status for entry in DeadLetterQueue(engine).find(limit=100)]


@pytest.fixture
def entry(state_db: Engine) -> Engine:
    file_dead_letters(state_db, "crm_contacts", [("c-1", {"id": "c-1"})])
    return state_db


def test_anonymous_requests_to_every_route_are_refused(airflow_app: Any, entry: Engine) -> None:
    client = TestClient(airflow_app)
    for method, path in routes():
        answer = client.request(method, path, data={"action": "discard"})
        assert answer.status_code in (401, 403), (method, path, answer.status_code)
    assert statuses(entry) == ["open"]


def test_changes_need_edit_permission_and_a_same_site_form(
    airflow_app: Any, auth_manager: Any, entry: Engine
) -> None:
    posts = [path for method, path in routes() if method == "POST"]
    assert posts
    viewer = browser(airflow_app, auth_manager, "vera", "viewer")
    editor = browser(airflow_app, auth_manager, "uma", "user")
    bearer = {"Authorization": f"Bearer {token(auth_manager, 'vera', 'viewer')}"}
    for path in posts:
        # A bulk action selects only what the user may change (for a viewer: nothing); a route
        # given the other kind of body refuses it (422). Whatever the answer, nothing changes.
        form = {"csrf_token": viewer.form_token(1), "action": "discard", "confirm": "yes"}
        by_form = viewer.post_form(path, form).status_code
        by_script = viewer.client.post(path, json={"action": "discard"}, headers=bearer).status_code
        assert by_form < 500, path
        assert by_script < 500, path
        if "/bulk" not in path:
            assert (by_script if path.startswith(f"{URL_PREFIX}/api/") else by_form) == 403, path
        evil = "https://evil.example"  # the editor's own cookie, sent by another site's page
        if path.startswith(f"{URL_PREFIX}/api/"):
            cross_site = editor.client.post(path, json={"action": "discard"}, headers={"Origin": evil})
        else:
            form = {"csrf_token": editor.form_token(1), "action": "discard", "confirm": "yes"}
            cross_site = editor.post_form(path, form, origin=evil)
        assert cross_site.status_code == 403, path
        assert statuses(entry) == ["open"], path
    # The same form, same-site, from a user who may edit: it does change the entry.
    form = {"csrf_token": editor.form_token(1)}
    assert editor.post_form(f"{URL_PREFIX}/dlq/1/discard", form).status_code == 303
    assert statuses(entry) == ["discarded"]


def test_hostile_query_values_are_harmless(airflow_app: Any, auth_manager: Any, entry: Engine) -> None:
    client = browser(airflow_app, auth_manager, "vera", "viewer").client
    gets = [path for method, path in routes() if method == "GET"]
    tables = set(inspect(entry).get_table_names())
    for path in gets:
        for value in HOSTILE:
            params = {name: value for name in ("integration", "status", "reason", "page", "dag_id", "days")}
            answer = client.get(path, params=params)
            assert answer.status_code < 500, (path, value, answer.status_code)
            kind = answer.headers.get("content-type", "")
            if "html" in kind:  # what a browser renders: the value only as text
                assert "<script>alert(1)" not in answer.text
                assert "<img src=x onerror" not in answer.text
            else:  # JSON may echo the value; a browser never renders it as a page
                assert kind.startswith("application/json"), (path, kind)
    assert tables <= set(inspect(entry).get_table_names())  # none dropped (a page may add its own)
    assert statuses(entry) == ["open"]
