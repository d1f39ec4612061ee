"""SQLite loader of a database upsert: the batch as one JSON array, read by ``json_each``.

The batch's lines joined by commas are one bound parameter, so SQLite parses every record in C;
``->>`` extracts each field (true and false as 1 and 0, objects and arrays as JSON text).
SQLite converts by column affinity instead of refusing a value, so only the table's own rules
(NOT NULL, CHECK, foreign keys, STRICT tables) refuse rows here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reliable_api.idempotency.db_upsert_batches import BatchOutcome
from reliable_api.idempotency.db_upsert_json_checks import RAW
from reliable_api.idempotency.db_upsert_json_sql import JsonSqlLoader

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.db_upsert_arrow import ArrowBatch
    from reliable_api.idempotency.db_upsert_batches import LineBatch
    from reliable_api.idempotency.sql_merge import Target


class SqliteLoader(JsonSqlLoader):
    """:class:`JsonSqlLoader` spelled for SQLite's JSON1 functions.

    With pyarrow, Arrow reads and screens each batch but the first in the worker thread: when it
    doubts no line, the checks in SQL (no record, no key, unknown fields, repeated keys) are
    skipped. (Binding Arrow's records instead of extracting them in SQL was measured: no faster.)
    """

    arrow_output = "none"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        #: Whether :meth:`prepare` has yet to see the run's first batch.
        self.first = True

    def prepare(self, batch: LineBatch) -> ArrowBatch | None:
        """:meth:`JsonSqlLoader.prepare`, except for the run's first batch, checked in SQL.

        The database waits for the first batch's preparation; screening it would import
        ``pyarrow.compute`` on the way (about 100 ms in a fresh task process, measured), more than
        the checks in SQL cost (about 60 ms per 50,000 lines). Later batches are screened while
        the database loads the one before.
        """
        if self.first:
            self.first = False
            return None
        return super().prepare(batch)

    def load(self, connection: Connection, batch: LineBatch, ready: ArrowBatch | None) -> BatchOutcome:
        """:meth:`JsonSqlLoader.load` in a transaction that holds the write lock from its start.

        The driver would begin a deferred transaction at the first write, after the batch has
        read the table: two writers each holding a read lock and wanting the write lock is a
        deadlock SQLite answers with "database is locked" at once, without waiting (two
        concurrent runs of 3,000 records in batches of 500 failed so in 4 of 4 tries, measured).
        ``BEGIN IMMEDIATE`` waits its turn (the connection's busy timeout), and each batch is one
        transaction.

        A batch no screen read goes straight into the table too while every record is new, when
        the checks in SQL find nothing to refuse.
        """
        if not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if ready is None and self._straight(connection, lambda: self._insert_checked(connection, batch)):
            self._drop(connection)
            return BatchOutcome(inserted=batch.lines)
        return super().load(connection, batch, ready)

    def insert_ready(self, connection: Connection, batch: LineBatch, ready: ArrowBatch) -> bool:
        """``INSERT`` of every line, extracted from ``RAW``, straight into the table.

        Only when the screen doubted no line (the checks in SQL would have nothing to find); the
        table's unique key refuses a row whose key exists after all, and the caller rolls back.
        """
        if ready.doubtful:
            return False
        self.stage_raw(connection, batch)
        self._insert_raw(connection)
        return True

    def _insert_checked(self, connection: Connection, batch: LineBatch) -> bool:
        """Every line staged and checked in SQL and, when none would be refused, inserted."""
        self.stage_raw(connection, batch)
        if connection.exec_driver_sql(self.any_refused()).first() is not None:
            return False
        self._insert_raw(connection)
        return True

    def _insert_raw(self, connection: Connection) -> None:
        t = self.target
        extract = ", ".join(self.extract(name) for name in t.columns)
        connection.exec_driver_sql(f"INSERT INTO {t.name} ({t.column_list()}) SELECT {extract} FROM {RAW}")

    def stage_raw(self, connection: Connection, batch: LineBatch, numbers: list[int] | None = None) -> None:
        """``RAW`` from ``json_each`` over the batch as one JSON array (lines are JSON values).

        (``numbers`` is never given: SQLite stages every line, :attr:`stages_ready` is False.)
        """
        array = "[" + batch.data.rstrip(b"\n").replace(b"\n", b",").decode() + "]"
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {RAW} AS SELECT key + 1 AS n, type AS kind, value AS doc FROM json_each(?)",
            (array,),
        )

    def json_type(self, path: str) -> str:
        """``json_type(doc, path)``; for the record itself, its type as ``json_each`` gave it.

        (``json_each`` gives JSON text only for objects and arrays: a string is not JSON text.)
        """
        return "kind" if path == "$" else f"json_type(doc, '{path}')"

    def extract(self, column: str) -> str:
        """``doc ->> '$.column'``."""
        return f"doc ->> '$.{column}'"

    def unknown_fields(self) -> tuple[str, str]:
        """What ``json_remove`` of the table's columns leaves of the object: the unknown fields."""
        rest = f"json_remove(doc, {', '.join(repr(f'$.{name}') for name in self.target.known)})"
        return f"{rest} <> '{{}}'", f"(SELECT group_concat(key, ', ') FROM json_each({rest}))"

    def refused(self, error: BaseException | None) -> bool:
        """Constraint failures (NOT NULL, CHECK, UNIQUE, foreign key, STRICT types)."""
        import sqlite3

        return isinstance(error, sqlite3.IntegrityError)
