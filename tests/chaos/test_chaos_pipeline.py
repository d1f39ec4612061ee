"""A whole pipeline under a real scheduler with faults of every kind at once: exactly once still.

``chaos_pipeline`` (``dags/``: extract -> validate -> API upsert in batches under idempotency keys
after a lookup, and DB upsert into the warehouse) runs in ``airflow standalone`` (LocalExecutor)
against two sandboxes started here:
a CRM whose reads fail now and then, and a marketing API behind a rate limit that answers
500/502/503, stalls past the read timeout, resets connections, loses answers after committing
(``p_lost_*``), refuses 1% of the records for good (404/422) and throws bursts of 429s with
Retry-After, in one variant with ``Idempotency-Key`` support and in one without. Afterwards, exactly:

- every source record is in the target API or dead-lettered, and in the warehouse or
  dead-lettered (lost 0); the API's dead letters are the records it refused (404/422);
- the sandbox created no natural key twice (duplicates 0);
- every task that dead-lettered records sent an alert, and so did every retried try from the
  second on, as the DAG's callbacks promise (silent 0); no request came before the time a
  Retry-After named;
- the canary credentials (both APIs' tokens, a token in the webhook URL's query) appear nowhere
  the run wrote: task logs, XCom and the metadata DB, staged files, the state DB (dead letters,
  run metrics, ledger), the alerts received, the plugin's pages and JSON (leaked 0).

Bounded by default (300 contacts, the harder variant without keys);
``RELIABLE_API_CHAOS_CONTACTS=10000 RELIABLE_API_CHAOS_FULL=1`` is the long run, both variants.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from demo.stack import DemoStack, free_port
from reliable_api.deadletter.queue import DeadLetterQueue
from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

DAG_ID = "chaos_pipeline"
INTEGRATION = "chaos_contacts"
CONTACTS = int(os.environ.get("RELIABLE_API_CHAOS_CONTACTS", "300"))
#: With and without ``Idempotency-Key`` support on the marketing API; CI runs the second only.
VARIANTS = [
    "no_idempotency_keys",
    *(["idempotency_keys"] if os.environ.get("RELIABLE_API_CHAOS_FULL") else []),
]
#: What the marketing API does wrong, at once (fractions of requests).
MARKETING_FAULTS = {
    "p_500": 0.02,
    "p_502": 0.02,
    "p_503": 0.03,
    "p_slow": 0.02,  # stalls past the connection's read timeout: a timeout
    "slow_seconds": 3.0,
    "p_reset": 0.01,
    "p_lost_502": 0.01,  # created, then the answer is lost
    "p_lost_stall": 0.01,
    "p_429": 0.01,  # starts a burst of 429s with Retry-After, as an API under load does
    "burst_429_seconds": 2.0,
}
#: The marketing API's own limit (the connection's too), and the records it refuses for good.
MARKETING_LIMITS = {"rate": 200.0, "burst": 20, "fail_404_share": 0.005, "fail_422_share": 0.005}
TASKS = ("validate", "push_marketing", "load_warehouse")
CRM_FAULTS = {"p_503": 0.03, "p_reset": 0.01}
CANARIES = {
    "crm": "tok_CANARY_crm_3f9a1c",
    "marketing": "tok_CANARY_mkt_8b2e4d",
    "hook": "CANARY_hook_q_61d0",
}


def everything(api: SandboxServer, token: str) -> list[dict[str, Any]]:
    """Every contact of a sandbox, read page by page (after its faults are switched off)."""
    records: list[dict[str, Any]] = []
    page = 1
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        answer = httpx.get(f"{api.url}/v1/contacts", params={"page": page, "per_page": 500}, headers=headers)
        answer.raise_for_status()
        batch = answer.json()["data"]
        if not batch:
            return records
        records += batch
        page += 1


def ui_pages(stack: DemoStack) -> str:
    """The plugin's pages and JSON as the admin sees them."""
    user, password = stack.login()
    answer = httpx.post(
        f"{stack.airflow_url}/auth/token", json={"username": user, "password": password}, timeout=30
    )
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    texts = []
    for path in ("/dlq", "/api/dlq", "/health", "/api/health", "/dlq/1", "/api/dlq/1"):
        page = httpx.get(f"{stack.airflow_url}/reliable-api{path}", headers=headers, timeout=30)
        assert page.status_code < 500, (path, page.status_code)
        texts.append(page.text)
    return "\n".join(texts)


def leaks(home: Path, texts: list[str]) -> list[str]:
    """Where a canary appears: files under ``home`` (gzip read as such), then the ``texts`` given."""
    found = []
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        found += [f"{path}: {name}" for name, canary in CANARIES.items() if canary.encode() in data]
    for number, text in enumerate(texts):
        found += [f"text {number}: {name}" for name, canary in CANARIES.items() if canary in text]
    return found


def connection(url: str, token: str) -> str:
    extra = {
        "Authorization": f"Bearer {token}",
        "limiter_backend": "sqlite",
        "rate_limit": "200/sec",
        "burst": 20,
        "read_timeout": 1.5,
        "backoff_base": 0.05,
        "backoff_cap": 1.0,
        "max_retries": 8,
    }
    return json.dumps({"conn_type": "reliable_http", "host": url, "extra": extra})


@pytest.fixture(params=VARIANTS)
def apis(request: pytest.FixtureRequest) -> Iterator[tuple[SandboxServer, SandboxServer]]:
    keys = request.param == "idempotency_keys"
    with (
        SandboxServer(contacts=CONTACTS, seed=11, api_keys=[CANARIES["crm"]], **CRM_FAULTS) as crm,
        SandboxServer(
            contacts=0,
            seed=12,
            idempotency=keys,
            api_keys=[CANARIES["marketing"]],
            **MARKETING_LIMITS,
            **MARKETING_FAULTS,
        ) as marketing,
    ):
        yield crm, marketing


def test_faults_at_once_lose_nothing_duplicate_nothing_and_leave_nothing_silent(
    apis: tuple[SandboxServer, SandboxServer], tmp_path: Path
) -> None:
    crm, marketing = apis
    sink = free_port()
    stack = DemoStack(
        home=tmp_path / "airflow",
        airflow_port=free_port(),
        sandbox_port=sink,
        dags_folder=Path(__file__).parent / "dags",
        extra_env={
            "AIRFLOW_CONN_RELIABLE_API_SANDBOX": connection(crm.url, CANARIES["crm"]),
            "AIRFLOW_CONN_RELIABLE_API_MARKETING": connection(marketing.url, CANARIES["marketing"]),
            "AIRFLOW_CONN_RELIABLE_API_ALERTS": json.dumps(
                {
                    "conn_type": "http",
                    "password": f"http://127.0.0.1:{sink}/_sandbox/webhook/alerts?token={CANARIES['hook']}",
                }
            ),
        },
    )
    with stack:
        run_id = stack.trigger(DAG_ID)
        state = stack.wait_for_run(DAG_ID, run_id, timeout=1200)
        with stack.api_client() as api:
            tries = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
        received = httpx.get(f"{stack.sandbox_url}/_sandbox/webhook/alerts", timeout=10).json()["data"]
        alerts = [delivery["body"] for delivery in received]
        pages = ui_pages(stack)

    assert state == "success", (
        f"run {state}; tries: {[(t['task_id'], t['try_number'], t['state']) for t in tries]}"
    )
    stats = marketing.stats()
    assert sum(stats["faults_injected"].values()) > 0, stats  # the faults did happen
    assert stats["duplicate_creates"] == 0, stats
    assert stats["rate_limited"] > 0, stats  # the bursts of 429s did happen
    assert stats["early_requests_after_retry_after"] == 0, stats["recent_retry_after_promises"]

    crm.configure(**dict.fromkeys(CRM_FAULTS, 0.0))  # the count, not the pipeline, reads now
    marketing.configure(**{name: 0.0 for name in MARKETING_FAULTS if name.startswith("p_")}, rate=0.0)
    source = everything(crm, CANARIES["crm"])
    target = everything(marketing, CANARIES["marketing"])
    engine = create_engine(f"sqlite:///{stack.home / 'reliable_api' / 'state.db'}")
    try:
        entries = DeadLetterQueue(engine).find(integration=INTEGRATION, limit=10 * CONTACTS)
    finally:
        engine.dispose()
    dead = {task: {e.record_key for e in entries if e.task_id == task} for task in TASKS}
    warehouse = sqlite3.connect(stack.home / "warehouse.db")
    try:
        (loaded,) = warehouse.execute("SELECT count(*) FROM contacts").fetchone()
    finally:
        warehouse.close()
    assert len(source) == CONTACTS
    refused = len(dead["validate"])
    assert len(target) + refused + len(dead["push_marketing"]) == len(source), (len(target), dead)
    assert loaded + refused + len(dead["load_warehouse"]) == len(source), (loaded, dead)
    refusals = [(e.error_class, e.http_status) for e in entries if e.task_id == "push_marketing"]
    assert refusals, "the marketing API refused no record: the 404/422 path was not exercised"
    assert set(refusals) <= {("RecordRejected", 404), ("RecordRejected", 422)}, refusals

    # The DAG's alerts are Slack messages: the title leads the text, the run is a field.
    run_alerts = [alert.get("text", "") for alert in alerts if run_id in json.dumps(alert)]
    for task in tries:
        if task["try_number"] > 2:  # retried from the second try on: each such retry alerted
            title = f"Task up for retry: {DAG_ID}.{task['task_id']}"
            assert any(text.startswith(title) for text in run_alerts), (title, run_alerts)
    assert refused  # the CRM's messy data always has rows to refuse
    for task in (name for name, keys in dead.items() if keys):  # every dead-lettering task alerted
        title = f"Records dead-lettered: {DAG_ID}.{task}"
        assert any(text.startswith(title) for text in run_alerts), (title, run_alerts)
    counts = {task: len(keys) for task, keys in dead.items()}
    print(  # the figures of docs/reliability.md (pytest -rP shows them)
        f"chaos {CONTACTS} contacts: faults {stats['faults_injected']}, 429s {stats['rate_limited']}, "
        f"refused {dict(Counter(status for _, status in refusals))}, creates {stats['creates_total']}, "
        f"duplicate creates {stats['duplicate_creates']}, target {len(target)}, loaded {loaded}, "
        f"dead-lettered {counts}, tries {sorted((t['task_id'], t['try_number']) for t in tries)}, "
        f"run alerts {len(run_alerts)}"
    )
    assert leaks(stack.home, [json.dumps(received), pages, json.dumps(tries)]) == []
