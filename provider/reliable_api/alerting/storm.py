"""Alert storms: identical alerts within a window are grouped, the count shared through the state DB.

The first alert of a (DAG, task, error class) goes out and opens a window. Identical alerts within
the window are only counted. The first one after the window goes out saying how many were held back
since when, and opens the next window. Every worker process shares the count: it lives in the
state DB's ``rapi_alert_storms`` table, updated with compare-and-set on a generation number, so two
processes never both send nor lose a count.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import Column, Integer, Table, Update, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateTable

from reliable_api.state.column_types import ExactString, UtcDateTime
from reliable_api.state.schema import metadata, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

#: Compare-and-set rounds before giving up and letting the alert through (only under heavy races).
MAX_ROUNDS = 20

# On the state DB's MetaData, so that ensure_schema creates it with the others when this module is
# imported first; :meth:`StormGate._ensure_table` covers an engine made before that.
alert_storms = Table(
    "rapi_alert_storms",
    metadata,
    Column("storm_key", ExactString(64), primary_key=True),
    Column("dag_id", ExactString(250)),
    Column("task_id", ExactString(250)),
    Column("error_class", ExactString(128)),
    Column("window_started_at", UtcDateTime(), nullable=False),
    Column("suppressed", Integer, nullable=False),
    Column("first_suppressed_at", UtcDateTime()),
    Column("generation", Integer, nullable=False),
    mysql_engine="InnoDB",  # row locks and transactions, as the other state tables
    mysql_charset="utf8mb4",
)


@dataclass(frozen=True)
class Admission:
    """Whether an alert goes out, and what it groups when it does.

    :param send: ``False`` when the alert was counted into an open window instead.
    :param suppressed: identical alerts held back since ``since`` (only when ``send``).
    """

    send: bool
    suppressed: int = 0
    since: datetime | None = None


class StormGate:
    """Decide, across processes, which of a storm of identical alerts go out.

    :param engine: the state DB.
    :param window: how long identical alerts are grouped after one went out.
    :param clock: the current time, timezone-aware; tests pass their own.
    """

    _ready: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose table exists, per process

    def __init__(self, engine: Engine, window: timedelta, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.window = window
        self._clock = clock

    def admit(self, dag_id: str, task_id: str, error_class: str) -> Admission:
        """Count this alert of (``dag_id``, ``task_id``, ``error_class``); say whether it goes out."""
        self._ensure_table()
        key = storm_key(dag_id, task_id, error_class)
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            if self._open_window(key, dag_id, task_id, error_class, now):
                return Admission(send=True)
            with self.engine.connect() as conn:
                row = conn.execute(select(alert_storms).where(alert_storms.c.storm_key == key)).one_or_none()
            if row is None:  # deleted in between: open a new window
                continue
            started = _aware(row.window_started_at)
            same = (alert_storms.c.storm_key == key) & (alert_storms.c.generation == row.generation)
            if now < started + self.window:
                counted = (
                    update(alert_storms)
                    .where(same)
                    .values(
                        suppressed=alert_storms.c.suppressed + 1,
                        first_suppressed_at=func.coalesce(alert_storms.c.first_suppressed_at, now),
                    )
                )
                if self._changed(counted):
                    return Admission(send=False)
            else:
                renewed = (
                    update(alert_storms)
                    .where(same)
                    .values(
                        window_started_at=now,
                        suppressed=0,
                        first_suppressed_at=None,
                        generation=row.generation + 1,
                    )
                )
                if self._changed(renewed):
                    since = row.first_suppressed_at
                    return Admission(
                        send=True, suppressed=row.suppressed, since=_aware(since) if since else None
                    )
        return Admission(send=True)

    def _open_window(self, key: str, dag_id: str, task_id: str, error_class: str, now: datetime) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    alert_storms.insert().values(
                        storm_key=key,
                        dag_id=dag_id[:250],
                        task_id=task_id[:250],
                        error_class=error_class[:128],
                        window_started_at=now,
                        suppressed=0,
                        generation=0,
                    )
                )
        except IntegrityError:  # another alert of this key opened the window first
            return False
        return True

    def _changed(self, statement: Update) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def _ensure_table(self) -> None:
        if self.engine in StormGate._ready:
            return
        with self.engine.begin() as conn:
            conn.execute(CreateTable(alert_storms, if_not_exists=True))
        StormGate._ready.add(self.engine)


def storm_key(dag_id: str, task_id: str, error_class: str) -> str:
    """A fixed-length key for (DAG, task, error class): ids can be longer than a key column."""
    return hashlib.sha256("\x1f".join((dag_id, task_id, error_class)).encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back; everything here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
