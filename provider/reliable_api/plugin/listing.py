"""The dead letters one user may see: the queue's queries narrowed to the DAGs they may read.

Narrowing happens in SQL, so pagination and counts are those of what the user sees.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from reliable_api.deadletter.queue import DeadLetter, DeadLetterQueue
from reliable_api.state.schema import dead_letters

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.sql.elements import ColumnElement

    from reliable_api.plugin.access import Access


@dataclass(frozen=True)
class Scope:
    """Which entries are visible: those of ``dag_ids`` (``None``: every DAG), and maybe those of none."""

    dag_ids: frozenset[str] | None
    without_dag: bool

    def allows(self, dag_id: str | None) -> bool:
        """Whether an entry of ``dag_id`` is in the scope."""
        if dag_id is None:
            return self.without_dag
        return self.dag_ids is None or dag_id in self.dag_ids

    def clauses(self) -> list[ColumnElement[bool]]:
        """SQL filters that keep only the entries in the scope."""
        if self.dag_ids is None:
            return [] if self.without_dag else [dead_letters.c.dag_id.is_not(None)]
        in_dags = dead_letters.c.dag_id.in_(sorted(self.dag_ids))
        return [in_dags | dead_letters.c.dag_id.is_(None)] if self.without_dag else [in_dags]


def run_clauses(dag_id: str | None, run_id: str | None) -> list[ColumnElement[bool]]:
    """SQL filters (bound parameters) keeping the entries of ``dag_id`` and ``run_id``, when given.

    These narrow what the user sees, never widen it: they are added to a :class:`Scope`'s clauses.
    """
    filters: list[ColumnElement[bool]] = []
    if dag_id:
        filters.append(dead_letters.c.dag_id == dag_id)
    if run_id:
        filters.append(dead_letters.c.run_id == run_id)
    return filters


def visible_scope(engine: Engine, access: Access) -> Scope:
    """The entries ``access``'s user may read.

    Access to DAGs as a whole covers every entry; otherwise the auth manager filters the DAGs
    the queue holds entries of (DAGs deleted since included, as far as it knows them).
    """
    if access.may("GET", None):
        return Scope(dag_ids=None, without_dag=True)
    with engine.connect() as conn:
        present = conn.execute(
            select(dead_letters.c.dag_id).where(dead_letters.c.dag_id.is_not(None)).distinct()
        ).scalars()
        return Scope(dag_ids=frozenset(access.readable(present)), without_dag=False)


@dataclass(frozen=True)
class Page:
    """One page of entries, most recently failed first, and how many match in all."""

    entries: list[DeadLetter]
    total: int


def find_page(
    engine: Engine,
    scope: Scope,
    *,
    integration: str | None,
    statuses: Collection[str],
    limit: int,
    offset: int,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> Page:
    """The entries in ``scope`` matching the filters, ``limit`` from ``offset``."""
    filters = [*scope.clauses(), *run_clauses(dag_id, run_id)]
    if integration:
        filters.append(dead_letters.c.integration == integration)
    if statuses:
        filters.append(dead_letters.c.status.in_(list(statuses)))
    ids_query = (
        select(dead_letters.c.id)
        .where(*filters)
        .order_by(dead_letters.c.last_seen.desc(), dead_letters.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        ids = list(conn.execute(ids_query).scalars())
        total = int(conn.execute(select(func.count()).select_from(dead_letters).where(*filters)).scalar_one())
    # The queue reads the rows (same order) so entries are built in one place.
    entries = DeadLetterQueue(engine).find(ids=ids, limit=len(ids)) if ids else []
    return Page(entries=entries, total=total)


def count_by_integration(
    engine: Engine, scope: Scope, *, dag_id: str | None = None, run_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Entries in ``scope`` (of ``dag_id``/``run_id`` if given) per integration and status.

    E.g. ``{"crm": {"open": 3}}``.
    """
    query = (
        select(dead_letters.c.integration, dead_letters.c.status, func.count())
        .where(*scope.clauses(), *run_clauses(dag_id, run_id))
        .group_by(dead_letters.c.integration, dead_letters.c.status)
        .order_by(dead_letters.c.integration)
    )
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for integration, status, count in conn.execute(query):
            counts.setdefault(integration, {})[status] = int(count)
    return counts
