"""Run one API upsert in a child process, optionally killing itself (SIGKILL) at a chosen step.

Used by the crash-safety and two-runs-at-once tests, in children forked from the test process.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine

CONN_ID = "api_upsert_sandbox"
INTEGRATION = "crm_contacts"


def contacts(count: int, *, version: int = 1) -> list[dict[str, Any]]:
    """``count`` contacts with distinct emails; ``version`` changes their content."""
    return [
        {"email": f"user{n:05d}@example.com", "first_name": f"User {n}", "version": version}
        for n in range(count)
    ]


def connection_env(url: str, **extra: Any) -> dict[str, str]:
    """The environment variable of the sandbox's ``reliable_http`` connection, with ``extra``."""
    conn = {"conn_type": "reliable_http", "host": url, "extra": {"limiter_backend": "memory", **extra}}
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn)}


def resource(*, idempotency: bool, lookup: bool, allow_unsafe: bool = False, **extra: Any) -> ApiResource:
    """The sandbox's contacts, as an API with or without keys and lookup."""
    return ApiResource(
        natural_key=("email",),
        create_path="/v1/contacts",
        update_path="/v1/contacts/{id}",
        lookup_path="/v1/contacts/search" if lookup else None,
        supports_idempotency_keys=idempotency,
        allow_unsafe=allow_unsafe,
        **extra,
    )


def build(state_url: str, owner: str, spec: ApiResource, **options: Any) -> ApiUpserter:
    """An upserter over the sandbox connection, dead-lettering into the state DB."""
    engine = make_engine(state_url)
    store = DeadLetterStore(engine)
    return ApiUpserter(
        ReliableHttpHook(http_conn_id=CONN_ID),
        spec,
        Ledger(engine, INTEGRATION, owner=owner),
        lambda key, payload, error: store.add(INTEGRATION, key, payload, error),
        **options,
    )


def run(config: dict[str, Any]) -> None:
    """The child's entry point: upsert, write the counts to ``result``, or die at the kill step."""
    os.environ.update(config["env"])
    seen = 0

    def on_step(name: str) -> None:
        nonlocal seen
        if name == config.get("kill_step"):
            seen += 1
            if seen == config["kill_at"]:
                os.kill(os.getpid(), signal.SIGKILL)

    spec = resource(**config["resource"])
    upserter = build(config["state_url"], config["owner"], spec, on_step=on_step, max_failure_ratio=1.0)
    counts = upserter.run(contacts(config["records"]))
    Path(config["result"]).write_text(json.dumps(counts.to_dict()))
