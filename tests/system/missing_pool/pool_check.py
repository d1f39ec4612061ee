"""Two tasks in a pool the test creates or leaves out, one in the default pool."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("pool_check", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    EmptyOperator(task_id="first", pool="pool_check_api")
    EmptyOperator(task_id="second", pool="pool_check_api")
    EmptyOperator(task_id="plain")
