"""The plugin's app as Airflow mounts it, a real state DB, and real Airflow users with JWTs."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import RecordRejected
from reliable_api.state.task import TaskIdentity

ORIGIN = "http://testserver"


@pytest.fixture(scope="session")
def airflow_env() -> Iterator[None]:
    """A migrated metadata DB (tokens are checked against it) and a JWT key long enough for HS512."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(64))
        mp.setenv("AIRFLOW__API__SECRET_KEY", secrets.token_hex(32))
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=300
        )
        yield


@pytest.fixture
def auth_manager(airflow_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's simple auth manager, initialized as the API server does."""
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app

    monkeypatch.delenv("AIRFLOW__CORE__AUTH_MANAGER", raising=False)
    purge_cached_app()  # a subclass left by another test would pass for the simple one
    return init_auth_manager()


@pytest.fixture
def own_dags_auth_manager(airflow_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The per-DAG auth manager of ``plugin_auth.py`` in place of the simple one."""
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app

    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "tests.integration.plugin.plugin_auth.OwnDagsAuthManager"
    )
    yield init_auth_manager()
    purge_cached_app()


def token(manager: Any, username: str, role: str | None) -> str:
    """A JWT for ``username`` with ``role``, signed the way ``/auth/token`` signs it."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """The state DB behind the ``reliable_api_state`` connection, as tasks and the pages find it."""
    from reliable_api.state.engine import make_engine
    from reliable_api.state.schema import metadata

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        conn = {"conn_type": "sqlite", "host": str(tmp_path / "state.db")}
    else:
        url = request.getfixturevalue("postgres_url")
        conn = {"conn_type": "postgres", "extra": {"sqlalchemy_url": url}}
    monkeypatch.setenv("AIRFLOW_CONN_RELIABLE_API_STATE", json.dumps(conn))
    engine = make_engine(url)
    yield engine
    if request.param == "postgres":
        metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def airflow_app(auth_manager: Any) -> Any:
    """A FastAPI app with the plugins mounted by Airflow's own ``init_plugins``."""
    from airflow.api_fastapi.app import init_plugins
    from fastapi import FastAPI

    app = FastAPI()
    init_plugins(app)
    return app


@dataclass
class Browser:
    """A client of the pages logged in as one user through the UI's cookie."""

    client: httpx.Client
    username: str

    def form_token(self, entry_id: int) -> str:
        """The CSRF token the entry page gives this user (what its forms submit)."""
        html = self.client.get(f"/reliable-api/dlq/{entry_id}").text
        marker = '<meta name="csrf-token" content="'
        start = html.index(marker) + len(marker)
        return html[start : html.index('"', start)]

    def post_form(self, path: str, data: dict[str, str], *, origin: str | None = ORIGIN) -> httpx.Response:
        headers = {"Origin": origin} if origin else {}
        return self.client.post(path, data=data, headers=headers, follow_redirects=False)


def browser(app: Any, manager: Any, username: str, role: str | None) -> Browser:
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url=ORIGIN)
    client.cookies.set("_token", token(manager, username, role))
    return Browser(client=client, username=username)


def file_dead_letters(
    engine: Engine,
    integration: str,
    records: list[tuple[str, dict[str, Any] | None]],
    *,
    dag_id: str | None = "crm_contacts_sync",
    run_id: str = "manual__2026-11-24",
    redact: tuple[str, ...] = (),
    status: int | None = 422,
    message: str = "rejected by the API",
) -> None:
    """Dead-letter ``records`` the way a load task does, through the store."""
    task = TaskIdentity(dag_id=dag_id, task_id="load", run_id=run_id, try_number=1) if dag_id else None
    store = DeadLetterStore(engine, redact=redact)
    store.add_many(
        integration,
        [(key, payload, RecordRejected(message, status=status, record_key=key)) for key, payload in records],
        task,
    )
