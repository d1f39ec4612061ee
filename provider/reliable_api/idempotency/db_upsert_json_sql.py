"""The loader of a database upsert for engines with JSON functions (SQLite, MySQL/MariaDB).

While every record of the run is new (a first load, an append) a batch whose records pass the
checks goes straight into the table, its unique key stopping it at the first existing row (ADR
0035). Otherwise the batch's lines are staged as text (each dialect its own way), then
set-based statements do the rest: refuse what is not an object, has no key or a non-scalar one,
or a field the table has no column for; extract and cast the columns into a stage shaped like the
table; keep each key's last record (refusing earlier ones with other values); count the staged
rows already in the table and those already equal; merge the others. A statement the database
refuses for some row's value (strict types, NOT NULL, CHECK, foreign keys) is then run row by
row to set those rows aside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reliable_api.idempotency.db_upsert_arrow import arrow_batch, arrow_schema
from reliable_api.idempotency.db_upsert_batches import BatchOutcome
from reliable_api.idempotency.db_upsert_json_checks import REFUSED, STAGE, JsonSqlChecks
from reliable_api.idempotency.sql_merge import LINE, Target

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.db_upsert_arrow import ArrowBatch, Output
    from reliable_api.idempotency.db_upsert_batches import LineBatch


class JsonSqlLoader(JsonSqlChecks):
    """Common steps; subclasses stage the raw lines and spell the JSON functions."""

    #: Whether the stage's key index is made before it is filled (kept up row by row) or after
    #: (built once: cheaper on SQLite; MySQL's ALTER TABLE would copy the filled table).
    index_first = False
    #: Whether :meth:`stage_ready` stages the records the screen passed (else the screen only
    #: spares the checks: every line is still extracted in SQL).
    stages_ready = False
    #: The storage engine clause of a stage that only :meth:`stage_ready` fills (see MysqlLoader).
    quick_stage = ""
    #: Whether the database may take keys the screen tells apart for one key (see MysqlLoader):
    #: then repeated keys are looked for in SQL even when the screen saw none.
    keys_fold = False

    #: What Arrow's screen hands :meth:`load` (see :func:`arrow_batch`); None: no screen.
    arrow_output: Output | None = None

    def __init__(self, target: Target) -> None:
        self.target = target
        self.arrow_schema = None if self.arrow_output is None else arrow_schema(target)
        #: Whether the next batch's screened records go straight into the table (None: not known yet).
        self.direct: bool | None = None

    # -- what each dialect spells its own way ------------------------------------------------
    def stage_raw(self, connection: Connection, batch: LineBatch, numbers: list[int] | None = None) -> None:
        """Create ``RAW`` (n, doc) holding each line of ``batch`` with its 1-based number.

        :param numbers: only these lines (with their numbers), the ones :meth:`prepare` doubted.
        """
        raise NotImplementedError

    def stage_ready(self, connection: Connection, ready: ArrowBatch) -> bool:
        """Put the records :meth:`prepare` passed into ``STAGE``.

        :returns: False if the database changed a value on the way (the caller makes a new stage).
        """
        raise NotImplementedError

    def split_fields(self, connection: Connection) -> None:
        """Parse each line's fields once into :attr:`source`, where a dialect gains by it."""

    def insert_ready(self, connection: Connection, batch: LineBatch, ready: ArrowBatch) -> bool:
        """Insert the records the screen passed straight into the table (no stage, no merge).

        :returns: False if the database changed a value on the way or the records cannot go
            this way (the caller rolls back whatever was done).
        """
        raise NotImplementedError

    # -- the steps ---------------------------------------------------------------------------
    def prepare(self, batch: LineBatch) -> ArrowBatch | None:
        """The batch parsed and screened by Arrow, or None: every line is checked in SQL."""
        if self.arrow_output is None or self.arrow_schema is None:
            return None
        return arrow_batch(self.target, self.arrow_schema, batch.data, batch.lines, output=self.arrow_output)

    def load(self, connection: Connection, batch: LineBatch, ready: ArrowBatch | None) -> BatchOutcome:
        """Merge ``batch`` inside the caller's transaction.

        ``ready``: the records :meth:`prepare` parsed and screened; while every record of the run
        so far was new they go straight into the table (:meth:`insert_ready`), otherwise they are
        staged as they are; only the lines it doubts (every line, without it) are checked and
        extracted in SQL.
        """
        t = self.target
        self._drop(connection)
        passed = False
        if ready is not None and ready.rows:
            screened = ready
            passed = self._straight(connection, lambda: self.insert_ready(connection, batch, screened))
        if ready is not None and passed and not ready.doubtful:
            self._drop(connection)
            return BatchOutcome(inserted=ready.rows)
        connection.exec_driver_sql(
            f"CREATE {self.temporary} TABLE {REFUSED} (n integer, reason text, message text)"
        )
        search = ready is None or ready.repeats or self.keys_fold
        staging = ready is not None and self.stages_ready and ready.rows > 0 and not passed
        self._create_stage(
            connection, quick=staging and ready is not None and not ready.doubtful, search=search
        )
        if staging and ready is not None and not self.stage_ready(connection, ready):
            # A value the screen let through was changed: check every line in SQL.
            ready, search = None, True
            self._create_stage(connection, quick=False, search=True)
        if ready is None or ready.doubtful or not self.stages_ready:
            # Where the passed records are staged (or inserted) already, only the doubted lines are left.
            self.stage_raw(connection, batch, ready.doubtful if ready and self.stages_ready else None)
            self.split_fields(connection)
            if ready is None or ready.doubtful:  # otherwise the screen vouched for every line
                connection.exec_driver_sql(self._refusals())
            extract = ", ".join(self.extract(name) for name in t.columns)
            self._each_row(
                connection,
                lambda where: (
                    f"INSERT INTO {STAGE} ({LINE}, {t.column_list()}) SELECT n, {extract} "
                    f"FROM {self.source} WHERE n NOT IN (SELECT n FROM {REFUSED}) AND {where}"
                ),
                self.source,
                "n",
            )
        if search and not self.index_first:
            connection.exec_driver_sql(self.index_sql(STAGE, t.key))
        outcome = BatchOutcome()
        if search:
            outcome.duplicates = self._drop_duplicates(connection)
        staged, existing, unchanged = self._compare(connection)
        refused_before = self._refused_count(connection)
        if staged > unchanged:
            self._each_row(
                connection, lambda where: self.merge_sql(where, skip_unchanged=unchanged > 0), STAGE, LINE
            )
        # A row the table refused is counted out of the inserts (counted before the merge).
        outcome.updated = existing - unchanged
        outcome.inserted = staged - existing - (self._refused_count(connection) - refused_before)
        if passed and ready is not None:
            outcome.inserted += ready.rows
        rows = connection.exec_driver_sql(f"SELECT n, reason, message FROM {REFUSED} ORDER BY n").all()
        outcome.refused = [(int(n), str(reason), str(message)) for n, reason, message in rows]
        self._drop(connection)
        self.direct = existing == 0
        return outcome

    def _create_stage(self, connection: Connection, *, quick: bool, search: bool) -> None:
        """(Re)create ``STAGE``, shaped like the table.

        :param quick: only :meth:`stage_ready` fills it (in :attr:`quick_stage`'s engine).
        :param search: repeated keys will be looked for (the stage's key index serves that alone:
            the probes of the table go by the table's own key).
        """
        t = self.target
        connection.exec_driver_sql(self.drop.format(STAGE))
        connection.exec_driver_sql(
            f"CREATE {self.temporary} TABLE {STAGE} {self.quick_stage if quick else ''} "
            f"AS SELECT 0 AS {LINE}, {t.column_list()} FROM {t.name} WHERE 1 = 0"
        )
        if search and self.index_first:
            connection.exec_driver_sql(self.index_sql(STAGE, t.key))

    def _straight(self, connection: Connection, insert: Callable[[], bool]) -> bool:
        """Whether ``insert`` put the batch's records straight into the table.

        It runs while every record of the run so far was new: the run's first batch into an
        empty table, and each batch after one whose records were all new (a first load, an
        append). The table's unique key is the check: a record whose key exists after all
        (another writer, an overlapping batch) makes the database refuse the insert (SQLite) or
        warn (MySQL's ``LOAD DATA LOCAL`` skips the row); then nothing of it stays, the batch is
        staged and merged, and later batches merge too (ADR 0035).

        :param insert: inserts the records, or returns False (the database changed a value, or
            the records cannot go this way); inside a savepoint rolled back unless it succeeds.
        """
        from sqlalchemy.exc import DBAPIError

        if self.direct is None:  # the run's first batch: an empty table has nothing to merge with
            self.direct = (
                connection.exec_driver_sql(f"SELECT 1 FROM {self.target.name} LIMIT 1").first() is None
            )
        if not self.direct:
            return False
        connection.exec_driver_sql("SAVEPOINT rapi_direct")
        try:
            inserted = insert()
        except DBAPIError as error:
            if not self.refused(error.orig):
                raise
            inserted = False
        if inserted:
            connection.exec_driver_sql("RELEASE SAVEPOINT rapi_direct")
            return True
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT rapi_direct")
        return False

    def _compare(self, connection: Connection) -> tuple[int, int, int]:
        """(staged rows, of them already in the table, of those unchanged), in one pass.

        Counting beats deleting the unchanged rows from the stage (a write per row); the merge
        leaves them out by the same comparison instead.
        """
        t = self.target
        found = f"o.{t.q(t.key[0])} IS NOT NULL"
        row = connection.exec_driver_sql(
            f"SELECT count(*), count(o.{t.q(t.key[0])}), "
            f"coalesce(sum(CASE WHEN {found} AND {t.same('o', 's')} THEN 1 ELSE 0 END), 0) "
            f"FROM {STAGE} s LEFT JOIN {t.name} o ON {t.key_match('o', 's')}"
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def merge_sql(self, where: str, *, skip_unchanged: bool = True) -> str:
        """The dialect's upsert of the rows of ``STAGE`` that match ``where`` into the table.

        :param skip_unchanged: leave out the rows whose stored row is already equal.
        """
        t = self.target
        # The WHERE also keeps SQLite from reading ON CONFLICT as a join constraint of the SELECT.
        return (
            f"INSERT INTO {t.name} AS t ({t.column_list()}) "
            f"SELECT {t.column_list()} FROM {STAGE} WHERE {self._changed(where, skip_unchanged)} "
            f"ON CONFLICT ({', '.join(t.q(k) for k in t.key)}) DO UPDATE SET {t.set_list('excluded.{}')} "
            f"WHERE NOT ({t.same('t', 'excluded')})"
        )

    def _changed(self, where: str, skip_unchanged: bool) -> str:
        """``where``, and (``skip_unchanged``) no stored row with the same key and values.

        The merge never touches an unchanged row: MySQL's ON DUPLICATE KEY UPDATE fires update
        triggers and locks each matched row even when it writes nothing.
        """
        if not skip_unchanged:
            return where
        t = self.target
        return (
            f"{where} AND NOT EXISTS (SELECT 1 FROM {t.name} o "
            f"WHERE {t.key_match('o', STAGE)} AND {t.same('o', STAGE)})"
        )
