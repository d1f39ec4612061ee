"""Which task try a state DB row is about (dead letters, run metrics, ledger claims)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskIdentity:
    """A task try: dag, task, run, map index and try number, each unknown outside Airflow."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int = -1
    try_number: int | None = None

    @classmethod
    def from_context(cls, context: Any) -> TaskIdentity:
        """The identity of the running task instance (``context["ti"]``)."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return cls(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=-1 if map_index is None else map_index,
            try_number=getattr(ti, "try_number", None),
        )

    @property
    def instance(self) -> str:
        """The task instance, the same on every try: the owner of its ledger claims."""
        return f"{self.dag_id}/{self.task_id}/{self.run_id}/{self.map_index}"
