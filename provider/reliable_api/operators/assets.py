"""The Assets that load operators declare as outlets, so downstream DAGs can run on fresh data.

A load task's target becomes an outlet when its connection id and target are known when the DAG
file is parsed (not templated): a DAG scheduled on the same Asset runs after each successful load::

    with DAG("crm_contacts_report", schedule=[table_asset("warehouse", "crm_contacts")]): ...

The Assets are named after the connection id, not the connection's host: a DAG file is parsed
without reading connections. A name without a URI scheme also keeps parsing cheap (an Asset URI
with a scheme makes Airflow load every provider's URI normalizers, about 0.1 s per process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Asset


def table_asset(conn_id: str, table: str, schema: str | None = None) -> Asset:
    """The Asset of a table behind an Airflow SQL connection: ``{conn_id}.{schema}.{table}``."""
    from airflow.sdk import Asset

    return Asset(".".join(part for part in (conn_id, schema, table) if part))


def api_asset(http_conn_id: str, path: str) -> Asset:
    """The Asset of an API resource behind a ``reliable_http`` connection: ``{conn_id}/{path}``."""
    from airflow.sdk import Asset

    return Asset(f"{http_conn_id}/{path.strip('/')}")


def is_templated(*values: object) -> bool:
    """Whether any of ``values`` is a Jinja template, known only when the task runs."""
    return any(isinstance(value, str) and ("{{" in value or "{%" in value) for value in values)
