"""The DLQ list filtered to one DAG and run, as the operators' "Dead letters" link opens it."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine

from reliable_api.deadletter.queue import DeadLetterQueue
from tests.integration.plugin.conftest import ORIGIN, browser, file_dead_letters
from tests.integration.plugin.test_plugin_dlq_pages import entry_ids

RUN_A = "scheduled__2026-12-01T00:00:00+00:00"  # ':' and '+' must survive the round trip
RUN_B = "scheduled__2026-12-02T00:00:00+00:00"


def keys(engine: Engine, ids: list[int]) -> set[str]:
    return {e.record_key for e in DeadLetterQueue(engine).find(ids=ids, limit=len(ids) or 1)}


def hrefs(page: str, css_class: str) -> list[dict[str, list[str]]]:
    found = re.findall(rf'<a (?:rel|class)="{css_class}" href="([^"]+)"', page)
    return [parse_qs(urlsplit(html.unescape(href)).query) for href in found]


def test_the_dead_letters_link_of_a_task_opens_the_entries_of_its_run_only(
    airflow_app: Any, auth_manager: Any, state_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    from reliable_api.operators.base import DeadLettersLink, ReliableOperator

    file_dead_letters(state_db, "crm_contacts", [("a-1", {"id": 1}), ("a-2", {"id": 2})], run_id=RUN_A)
    file_dead_letters(state_db, "crm_contacts", [("b-1", {"id": 3})], run_id=RUN_B)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"{ORIGIN}/")
    operator = ReliableOperator(task_id="load", integration="crm_contacts")
    ti_key = TaskInstanceKey(dag_id="crm_contacts_sync", task_id="load", run_id=RUN_A, try_number=1)
    link = DeadLettersLink().get_link(operator, ti_key=ti_key)
    assert link.startswith(f"{ORIGIN}/reliable-api/dlq?")
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    page = client.get(link)
    assert page.status_code == 200
    assert keys(state_db, entry_ids(page.text)) == {"a-1", "a-2"}
    assert '<span class="total">2</span>' in page.text
    assert f'<strong class="filter-run">{RUN_A}</strong>' in page.text

    api_link = link.replace("/reliable-api/dlq?", "/reliable-api/api/dlq?")
    data = client.get(api_link).json()
    assert {e["record_key"] for e in data["entries"]} == {"a-1", "a-2"}
    assert {e["run_id"] for e in data["entries"]} == {RUN_A}
    assert data["total"] == 2
    assert data["counts"] == {"crm_contacts": {"open": 2}}


def test_dag_and_run_filters_narrow_the_list_the_json_and_the_counts(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [("a-1", {"id": 1})], run_id=RUN_A)
    file_dead_letters(state_db, "crm_contacts", [("b-1", {"id": 2})], run_id=RUN_B)
    file_dead_letters(state_db, "billing", [("x-1", {"id": 3})], dag_id="billing_sync", run_id=RUN_A)
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    def api(**params: str) -> dict[str, Any]:
        answer = client.get("/reliable-api/api/dlq", params=params)
        assert answer.status_code == 200
        return dict(answer.json())

    def listed(**params: str) -> set[str]:
        return keys(state_db, entry_ids(client.get("/reliable-api/dlq", params=params).text))

    assert {e["record_key"] for e in api(run_id=RUN_A)["entries"]} == {"a-1", "x-1"}
    assert {e["record_key"] for e in api(dag_id="crm_contacts_sync")["entries"]} == {"a-1", "b-1"}
    both = api(dag_id="crm_contacts_sync", run_id=RUN_A)
    assert [e["record_key"] for e in both["entries"]] == ["a-1"]
    assert both["total"] == 1
    assert both["counts"] == {"crm_contacts": {"open": 1}}
    assert api(dag_id="billing_sync", run_id=RUN_B)["total"] == 0
    assert api(dag_id="", run_id="")["total"] == 3  # empty values filter nothing
    assert listed(run_id=RUN_B) == {"b-1"}
    assert listed(dag_id="billing_sync") == {"x-1"}
    assert listed(run_id=RUN_A, integration="billing") == {"x-1"}
    assert listed() == {"a-1", "b-1", "x-1"}


def test_the_run_filter_is_kept_in_pages_filters_and_bulk_links_and_can_be_cleared(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    file_dead_letters(state_db, "crm_contacts", [(f"a-{n:02}", {"n": n}) for n in range(60)], run_id=RUN_A)
    file_dead_letters(state_db, "crm_contacts", [(f"b-{n:02}", {"n": n}) for n in range(5)], run_id=RUN_B)
    admin = browser(airflow_app, auth_manager, "ada", "admin")
    run_b = {"dag_id": "crm_contacts_sync", "run_id": RUN_B}
    wanted = {k: [v] for k, v in run_b.items()}

    first = admin.client.get("/reliable-api/dlq", params={"dag_id": "crm_contacts_sync", "run_id": RUN_A})
    assert '<span class="total">60</span>' in first.text
    (next_link,) = hrefs(first.text, "next")
    assert next_link["run_id"] == [RUN_A]
    assert next_link["page"] == ["2"]
    second = admin.client.get("/reliable-api/dlq", params={k: v[0] for k, v in next_link.items()})
    assert len(entry_ids(second.text)) == 10
    assert keys(state_db, entry_ids(second.text)) <= {f"a-{n:02}" for n in range(60)}

    page = admin.client.get("/reliable-api/dlq", params=run_b).text
    assert keys(state_db, entry_ids(page)) == {f"b-{n:02}" for n in range(5)}
    assert f'<input type="hidden" name="run_id" value="{RUN_B}">' in page  # the filter form keeps it
    (cleared,) = hrefs(page, "clear-filter")
    assert "run_id" not in cleared
    assert "dag_id" not in cleared
    everything = admin.client.get("/reliable-api/dlq", params={k: v[0] for k, v in cleared.items()})
    assert '<span class="total">65</span>' in everything.text
    assert 'id="run-filter"' not in everything.text

    (discard,) = hrefs(page, "bulk-discard")
    assert {k: discard[k] for k in wanted} == wanted
    confirm = admin.client.get("/reliable-api/dlq/bulk", params={k: v[0] for k, v in discard.items()})
    assert '<p id="bulk-count">5 entries will be discarded' in confirm.text
    back = re.search(r'<a href="([^"]+)">← back', confirm.text)
    assert back is not None
    assert {k: parse_qs(urlsplit(html.unescape(back.group(1))).query)[k] for k in wanted} == wanted
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)
    assert token is not None
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', confirm.text))
    done = admin.post_form("/reliable-api/dlq/bulk", {**hidden, "confirm": "yes"})
    assert done.status_code == 200
    by_status = {e.record_key: e.status for e in DeadLetterQueue(state_db).find(limit=100)}
    assert {k for k, s in by_status.items() if s == "discarded"} == {f"b-{n:02}" for n in range(5)}


def test_the_run_filter_never_widens_what_a_user_may_read(
    own_dags_auth_manager: Any, state_db: Engine
) -> None:
    from airflow.api_fastapi.app import init_plugins
    from fastapi import FastAPI

    app = FastAPI()
    init_plugins(app)
    file_dead_letters(state_db, "crm_contacts", [("a-1", {"id": 1})], dag_id="ana_sync", run_id=RUN_A)
    file_dead_letters(state_db, "crm_contacts", [("b-1", {"id": 2})], dag_id="bob_sync", run_id=RUN_A)
    file_dead_letters(state_db, "crm_contacts", [("cli-1", {"id": 3})], dag_id=None)
    ana = browser(app, own_dags_auth_manager, "ana", "admin").client

    mine = ana.get("/reliable-api/api/dlq", params={"run_id": RUN_A}).json()
    assert [e["record_key"] for e in mine["entries"]] == ["a-1"]
    assert mine["counts"] == {"crm_contacts": {"open": 1}}
    theirs = ana.get("/reliable-api/api/dlq", params={"dag_id": "bob_sync", "run_id": RUN_A}).json()
    assert theirs["entries"] == []
    assert theirs["total"] == 0
    assert theirs["counts"] == {}
    page = ana.get("/reliable-api/dlq", params={"dag_id": "bob_sync"}).text
    assert entry_ids(page) == []


def test_hostile_dag_and_run_ids_are_bound_and_escaped(
    airflow_app: Any, auth_manager: Any, state_db: Engine
) -> None:
    hostile = "x' OR '1'='1\"><script>alert(1)</script>&page=9"
    file_dead_letters(state_db, "crm_contacts", [("h-1", {"id": 1})], run_id=hostile)
    file_dead_letters(state_db, "crm_contacts", [("n-1", {"id": 2})], run_id=RUN_A)
    client = browser(airflow_app, auth_manager, "vera", "viewer").client

    found = client.get("/reliable-api/api/dlq", params={"run_id": hostile}).json()
    assert [e["record_key"] for e in found["entries"]] == ["h-1"]  # matched as a value, nothing more
    injected = client.get("/reliable-api/api/dlq", params={"run_id": "x' OR '1'='1", "dag_id": "' OR 1=1 --"})
    assert injected.json()["total"] == 0

    page = client.get("/reliable-api/dlq", params={"run_id": hostile, "dag_id": "<b>dag</b>"})
    assert page.status_code == 200
    assert page.text.count("<script>") == 1  # the page's own theme script, no other
    assert "<script>alert(" not in page.text
    assert "<b>dag</b>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    for link in hrefs(page.text, "clear-filter") + hrefs(page.text, "bulk-discard"):
        assert "page" not in link or link["page"] != ["9"]  # '&page=9' stayed inside the value
    only_hostile = client.get("/reliable-api/dlq", params={"run_id": hostile})
    (bulk,) = hrefs(only_hostile.text, "bulk-discard")
    assert bulk["run_id"] == [hostile]
