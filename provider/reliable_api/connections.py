"""Airflow connections as the provider reads them, on every Airflow release it supports.

Light on purpose: Airflow is imported when a connection is looked up, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Connection


def find_connection(conn_id: str) -> Connection | None:
    """The Airflow connection ``conn_id``, or ``None`` when there is none by that id."""
    from airflow.sdk import BaseHook

    try:
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # Airflow 3.1: only in airflow.exceptions
        from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
