"""A rendered ``*conn_id`` that names no connection fails the task at once, naming it."""

from __future__ import annotations

import json

import pytest

from reliable_api.exceptions import ConfigurationError, PermanentError
from reliable_api.http.pagination import PageNumberPaginator
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.operators.extract import ApiExtractOperator


def test_an_unknown_http_conn_id_is_named_with_what_to_create(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CRM_TYPO", raising=False)
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id="crm_typo",
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        integration="crm",
    )
    with pytest.raises(ConfigurationError) as raised:
        extract.pre_execute({})  # type: ignore[arg-type]
    message = str(raised.value)
    assert "task 'extract': http_conn_id='crm_typo' names no Airflow connection" in message
    assert "AIRFLOW_CONN_CRM_TYPO" in message
    assert isinstance(raised.value, PermanentError)  # no Airflow retries for it


def test_a_known_conn_id_passes_and_the_state_connection_is_left_to_the_state_db(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_OK", json.dumps({"conn_type": "sqlite", "host": "/tmp/w.db"}))
    monkeypatch.delenv("AIRFLOW_CONN_NO_STATE_HERE", raising=False)
    load = DbUpsertOperator(
        task_id="load",
        conn_id="warehouse_ok",
        table="contacts",
        key=["id"],
        records=[],
        integration="crm",
        state_conn_id="no_state_here",
    )
    load.pre_execute({})  # type: ignore[arg-type]
    load.conn_id = "warehouse_gone"
    with pytest.raises(ConfigurationError, match="conn_id='warehouse_gone' names no Airflow connection"):
        load.pre_execute({})  # type: ignore[arg-type]
