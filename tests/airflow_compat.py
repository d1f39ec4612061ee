"""What differs between the Airflow releases the provider supports (3.1, 3.2, 3.3), for tests.

Import it from test modules, never at module level of a conftest: importing Airflow reads its
configuration, which ``tests/conftest.py`` points at a throwaway home first.
"""

from __future__ import annotations

from typing import Any

import airflow
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(airflow.__version__).base_version)
AIRFLOW_V_3_2_PLUS = Version("3.2") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3") <= AIRFLOW_VERSION

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1: DagBag lives in airflow.models.dagbag
    from airflow.models.dagbag import DagBag

__all__ = ["AIRFLOW_VERSION", "AIRFLOW_V_3_2_PLUS", "AIRFLOW_V_3_3_PLUS", "DagBag", "run_dag_test"]


def run_dag_test(dag: Any, *, first_run: bool = False, **kwargs: Any) -> Any:
    """``dag.test()`` without the DAG's Deadline Alerts, which Airflow 3.3.2's ``dag.test()`` cannot
    take: the run succeeds, then it crashes (apache/airflow#73428, ``'dict' object has no attribute
    'hex'``). The deadlines themselves are tested with a real scheduler (``tests/e2e``).

    ``first_run``: forget the DAG's earlier runs first. A test worker's tests share one Airflow DB,
    and a sample DAG's watermark (``prev_start_date_success``) would otherwise come from another
    test's run against another sandbox, making its extract incremental."""
    if first_run:
        forget_dag_runs(dag.dag_id)
    dag.deadline = None
    return dag.test(**kwargs)


def forget_dag_runs(dag_id: str) -> None:
    """Delete ``dag_id``'s runs and their task instances (the rest by the tables' own cascades).

    Statements, not ``session.delete()`` per run: the ORM's delete loads each run's relations, and
    a DAG serialized twice in this worker's shared metadata DB made that load warn (an error
    under the suite's filterwarnings).
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        for model in (TaskInstance, DagRun):
            session.execute(
                delete(model).where(model.dag_id == dag_id).execution_options(synchronize_session=False)
            )
