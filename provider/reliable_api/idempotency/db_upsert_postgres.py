"""PostgreSQL loader of a database upsert: JSON Lines in, one merge out, no Python per record.

Fast path (pyarrow installed, every column a scalar type): Arrow parses and screens the batch on
the client (:mod:`~reliable_api.idempotency.db_upsert_arrow`), ``COPY`` loads the records it
passed into a temporary table, in PostgreSQL's binary format
(:mod:`~reliable_api.idempotency.db_upsert_pg_binary`: columns without a simple binary form go as
text into ``text`` columns, cast in the merge's source) or as CSV, and one statement merges them.
Careful path (the records the screen doubts, or the whole batch when Arrow cannot read it or the
database refuses a value the screen passed): the lines are COPYed as text and a PL/pgSQL block
(:mod:`~reliable_api.idempotency.db_upsert_pg_checks`) parses, checks and casts each in the
database, setting aside every record it cannot take with the reason (and the column, for a value
the column's type refuses); the merge falls back to one row at a time only when the table
itself refuses a row (NOT NULL, CHECK, foreign key).
docs/adr/0028-db-upserts-in-the-database.md says why and what it measured.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from reliable_api.idempotency.db_upsert_arrow import (
    ArrowBatch,
    arrow_batch,
    arrow_schema,
    dense_key_range,
    in_key_order,
    write_csv,
)
from reliable_api.idempotency.db_upsert_batches import BatchOutcome
from reliable_api.idempotency.db_upsert_pg_binary import encode, pg_columns, source, stage_select
from reliable_api.idempotency.db_upsert_pg_checks import RAW, REFUSED, STAGE, check_block
from reliable_api.idempotency.sql_merge import LINE, Target

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from reliable_api.idempotency.db_upsert_batches import LineBatch

FAST, MERGED = "_rapi_fast", "_rapi_merged"
#: SQLSTATE classes of a database refusing data (22: data exception, 23: integrity violation).
REFUSALS = ("22", "23")
UNIQUE_VIOLATION = "23505"


class PostgresLoader:
    """Loads JSON Lines batches into ``target`` on a psycopg 2 or 3 connection.

    :param engine: the engine, to read how each column travels in a binary ``COPY`` from the
        catalog (None: the fast path sends CSV).
    """

    def __init__(self, target: Target, engine: Engine | None = None) -> None:
        self.target = target
        self.arrow_schema = arrow_schema(target)
        t = target
        self.columns = None
        #: Whether the next batch is COPYed straight into the table (None: not known yet).
        self.direct: bool | None = None
        #: The table's oid when the merge is a ``MERGE`` (PostgreSQL 15+), else None (not known
        #: yet, or ``INSERT ... ON CONFLICT``).
        self.merge_oid: int | None = None
        self._server_known = False
        if engine is not None:
            # Known before the first batch is prepared, so a re-run's first batch is made ready
            # for the merge (binary), not for a COPY straight into the table (CSV).
            with engine.connect() as connection:
                if self.arrow_schema is not None:
                    self.columns = pg_columns(connection, target, self.arrow_schema)
                self._know_server(connection.connection.driver_connection.cursor())  # type: ignore[union-attr]
        if self.columns is None:
            self.stage_select, self.source = f"SELECT {t.column_list()} FROM {t.name}", FAST
        else:
            self.stage_select, self.source = stage_select(t, self.columns), source(t, self.columns, FAST)
        #: Whether the binary data fits the table itself (every column sent in its own type).
        self.native = self.columns is not None and self.source == FAST

    def prepare(self, batch: LineBatch) -> ArrowBatch | None:
        """The batch parsed and screened for the fast path, or None (careful path for all of it).

        The passed records leave as binary ``COPY`` data when the columns allow it and the batch
        will be merged, as CSV otherwise. This runs in a worker thread one batch ahead of the
        loads, so which way the batch goes is a guess from :attr:`direct`; either form loads
        whichever way it goes (the stage takes both; binary data that does not fit the table
        takes the stage and the merge).
        """
        if self.arrow_schema is None:
            return None
        ready = arrow_batch(self.target, self.arrow_schema, batch.data, batch.lines, output="table")
        if ready is None:
            return None
        table, ready.table = ready.table, None
        ready.key_range = dense_key_range(table, self.target.key)
        if ready.key_range is None:
            table = in_key_order(table, self.target.key)
        if self.columns is not None and (self.native or self.direct is False):
            import pyarrow as pa

            try:
                ready.binary = encode(table, self.columns)
                return ready
            except (pa.ArrowInvalid, pa.ArrowCapacityError):
                pass  # a value Arrow will not convert (the screen doubts those): CSV, the database decides
        ready.csv = write_csv(table)
        return ready

    def load(self, connection: Connection, batch: LineBatch, ready: ArrowBatch | None) -> BatchOutcome:
        """Merge ``batch`` (``ready``: what :meth:`prepare` made of it) inside the caller's transaction."""
        cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if not self._server_known:
            self._know_server(cursor)
        if ready is None:
            return self._careful(cursor, batch.data)
        outcome = BatchOutcome()
        if ready.rows:
            try:
                outcome.inserted, outcome.updated = self._fast(cursor, ready)
            except Exception as error:
                if not _is_refusal(error):
                    raise
                return self._careful(cursor, batch.data)  # a value the screen let through
        if ready.doubtful:
            lines = batch.split()
            # Each doubted line with its number in the batch and the columns the screen doubted
            # (validated identifiers: safe in an array literal).
            suspects = ready.suspects or [[] for _ in ready.doubtful]
            numbered = b"".join(
                b"%d\x02%s\x02{%s}\n" % (n, lines[n - 1], ",".join(columns).encode())
                for n, columns in zip(ready.doubtful, suspects, strict=True)
            )
            careful = self._careful(cursor, numbered, numbered=True, repeats=ready.repeats)
            outcome.inserted += careful.inserted
            outcome.updated += careful.updated
            outcome.duplicates, outcome.refused = careful.duplicates, careful.refused
        return outcome

    def _fast(self, cursor: Any, ready: ArrowBatch) -> tuple[int, int]:
        """(inserted, updated) by the screened records; a refusal leaves nothing of them behind.

        While every record of the run so far was new (a first load, an append), ``COPY`` goes
        straight into the table: its unique key refuses a row that exists after all, and only
        then does the batch take the stage and the merge (ADR 0028).
        """
        columns = self.target.column_list()
        data, form = (ready.csv, "csv") if ready.binary is None else (ready.binary, "binary")
        if self.direct and (form == "csv" or self.native):
            cursor.execute("SAVEPOINT rapi_direct")
            try:
                _copy(cursor, f"COPY {self.target.name} ({columns}) FROM STDIN (FORMAT {form})", data)
                cursor.execute("RELEASE SAVEPOINT rapi_direct")
                return ready.rows, 0
            except Exception as error:
                if not _is_refusal(error):
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT rapi_direct")
                if _sqlstate(error) != UNIQUE_VIOLATION:
                    raise
        cursor.execute("SAVEPOINT rapi_fast")
        try:
            cursor.execute(f"CREATE TEMP TABLE {FAST} ON COMMIT DROP AS {self.stage_select} WITH NO DATA")
            _copy(cursor, f"COPY {FAST} ({columns}) FROM STDIN (FORMAT {form})", data)
            # The stage, its text columns cast.
            inserted, updated = self._merge(cursor, self.source, ready.key_range)
            cursor.execute("RELEASE SAVEPOINT rapi_fast")
        except Exception as error:
            if _is_refusal(error):
                cursor.execute("ROLLBACK TO SAVEPOINT rapi_fast")
            raise
        self.direct = inserted == ready.rows
        return inserted, updated

    def _know_server(self, cursor: Any) -> None:
        """Learn how this server merges, and whether the table is empty.

        ``MERGE`` needs PostgreSQL 15+ and the table counters it is counted by; an empty table
        takes its first batch straight in.
        """
        cursor.execute(
            "SELECT current_setting('server_version_num')::int >= 150000 "
            "AND current_setting('track_counts')::boolean, %s::regclass::oid, "
            f"NOT EXISTS (SELECT 1 FROM {self.target.name})",
            (self.target.name,),
        )
        usable, oid, empty = cursor.fetchone()
        self.merge_oid = int(oid) if usable else None
        if self.direct is None:
            self.direct = bool(empty)
        self._server_known = True

    def _merge(self, cursor: Any, stage: str, key_range: tuple[int, int] | None = None) -> tuple[int, int]:
        """(inserted, updated) by merging the rows of ``stage`` that differ from the table's.

        :param key_range: the lowest and highest key staged, when the table holds few rows
            between them (:func:`~reliable_api.idempotency.db_upsert_arrow.dense_key_range`).
        """
        # The stage has no statistics and the target's lag behind a load: left to itself the planner
        # hashes the whole target for every batch (n² over a large load). So the join is chosen
        # here. By default one index probe per staged row. When the staged keys lie close together,
        # one index scan of the table's rows between them, hashed: a re-run in key order read
        # 50,000 rows in about half the time of 50,000 probes, and the scan reads at most
        # ``spread`` rows per record (ADR 0036). JIT compiling costs a batch more than it saves (14
        # ms measured where a 50,000-row merge's cost estimate crossed jit_above_cost). SET LOCAL
        # ends with the batch's transaction.
        if key_range is None:
            joins = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
        else:
            joins = (
                "SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off; "
                "SET LOCAL enable_seqscan = off"
            )
        cursor.execute(f"{joins}; SET LOCAL jit = off")
        if self.merge_oid is not None:
            cursor.execute("SAVEPOINT rapi_upsert")
            try:
                counts = self._merge_statement(cursor, stage, self.merge_oid, key_range)
                cursor.execute("RELEASE SAVEPOINT rapi_upsert")
                return counts
            except Exception as error:
                # MERGE inserts without ON CONFLICT: a key another writer inserted since this
                # statement's snapshot is a unique violation. The upsert below settles it.
                if _sqlstate(error) != UNIQUE_VIOLATION:
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT rapi_upsert")
        return self._upsert_statement(cursor, stage, key_range)

    def _merge_statement(
        self, cursor: Any, stage: str, oid: int, key_range: tuple[int, int] | None
    ) -> tuple[int, int]:
        """``MERGE`` of the changed and new staged rows, counted by the transaction's table counters.

        For each changed row one index probe and a plain update, where ``INSERT ... ON CONFLICT``
        probes again and locks the row first (and inserts speculatively): a batch of 50,000
        changed rows took 435 ms against 490, 50,000 new ones 250 against 327 (ADR 0028). PostgreSQL
        15 and 16 have no ``RETURNING`` on ``MERGE``; the counters of the transaction (its live
        subtransactions included) tell inserts from updates.
        """
        t = self.target
        counters = f"SELECT pg_stat_get_xact_tuples_inserted({oid}), pg_stat_get_xact_tuples_updated({oid})"
        cursor.execute(counters)
        inserted_before, updated_before = cursor.fetchone()
        cursor.execute(
            f"MERGE INTO {t.name} AS t USING ({self._differing(stage, key_range)}) s "
            f"ON {t.key_match('t', 's')}{self._within('t', key_range)} "
            f"WHEN MATCHED AND NOT ({t.same('t', 's')}) THEN UPDATE SET {t.set_list('s.{}')} "
            f"WHEN NOT MATCHED THEN INSERT ({t.column_list()}) VALUES ({t.column_list('s.')})"
        )
        cursor.execute(counters)
        inserted_after, updated_after = cursor.fetchone()
        return int(inserted_after - inserted_before), int(updated_after - updated_before)

    def _upsert_statement(
        self, cursor: Any, stage: str, key_range: tuple[int, int] | None
    ) -> tuple[int, int]:
        """``INSERT ... ON CONFLICT`` of the changed and new staged rows (any PostgreSQL)."""
        t = self.target
        differing = self._differing(stage, key_range)
        cursor.execute(
            f"WITH merged AS (INSERT INTO {t.name} AS t ({t.column_list()}) {differing} "
            f"{self._on_conflict()} RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        )
        inserted, updated = cursor.fetchone()
        return int(inserted), int(updated)

    def _differing(self, stage: str, key_range: tuple[int, int] | None = None) -> str:
        """``SELECT`` of the staged rows that are new or differ from the table's (as ``s``)."""
        t = self.target
        return (
            f"SELECT {t.column_list('s.')} FROM {stage} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {t.name} o WHERE {t.key_match('o', 's')}{self._within('o', key_range)} "
            f"AND {t.same('o', 's')})"
        )

    def _within(self, alias: str, key_range: tuple[int, int] | None) -> str:
        """`` AND`` the table's key in ``key_range`` (true of every staged row), or nothing."""
        if key_range is None:
            return ""
        low, high = key_range  # integers: safe as literals
        return f" AND {alias}.{self.target.q(self.target.key[0])} BETWEEN {low:d} AND {high:d}"

    def _on_conflict(self) -> str:
        # The anti-join above keeps unchanged rows out; the WHERE keeps a row another writer
        # has just made equal from being rewritten. xmax = 0 marks a freshly inserted row version.
        t = self.target
        return (
            f"ON CONFLICT ({', '.join(t.q(k) for k in t.key)}) DO UPDATE SET {t.set_list('EXCLUDED.{}')} "
            f"WHERE NOT ({t.same('t', 'EXCLUDED')})"
        )

    def _careful(
        self, cursor: Any, data: bytes, *, numbered: bool = False, repeats: bool = True
    ) -> BatchOutcome:
        """Check, cast and merge each line of ``data`` in the database.

        :param numbered: each line is its number in the batch, a 0x02 byte, the record, a 0x02
            byte and the columns the screen doubted as an array literal (records Arrow parsed).
        :param repeats: whether a key may occur twice in ``data`` (False: no need to look).
        """
        t = self.target
        # Numbered lines bring their numbers; others are numbered in the order COPY reads them.
        numbering = "" if numbered else " GENERATED BY DEFAULT AS IDENTITY"
        # The three tables in one round trip (no parameters: psycopg 2 and 3 send them as one query).
        cursor.execute(
            f"CREATE TEMP TABLE {RAW} ({LINE} bigint{numbering}, doc text, doubt text[]) ON COMMIT DROP; "
            f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT 0::bigint AS {LINE}, {t.column_list()} "
            f"FROM {t.name} WITH NO DATA; "
            f"CREATE TEMP TABLE {REFUSED} (n bigint, reason text, message text) ON COMMIT DROP"
        )
        # Control characters never occur raw in JSON text: as quote and delimiter, each line loads verbatim.
        columns = f"{LINE}, doc, doubt" if numbered else "doc"
        _copy(
            cursor,
            f"COPY {RAW} ({columns}) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
            data,
        )
        cursor.execute(check_block(t, suspects=numbered))
        outcome = BatchOutcome(duplicates=self._drop_duplicates(cursor) if repeats else 0)
        cursor.execute("SAVEPOINT rapi_merge")
        try:
            outcome.inserted, outcome.updated = self._merge(cursor, STAGE)
            cursor.execute("RELEASE SAVEPOINT rapi_merge")
        except Exception as error:
            if not _is_refusal(error):
                raise
            cursor.execute("ROLLBACK TO SAVEPOINT rapi_merge")
            outcome.inserted, outcome.updated = self._merge_row_by_row(cursor)
        cursor.execute(f"SELECT n, reason, message FROM {REFUSED} ORDER BY n")
        outcome.refused = [(int(n), str(reason), str(message)) for n, reason, message in cursor.fetchall()]
        return outcome

    def _drop_duplicates(self, cursor: Any) -> int:
        """Keep each key's last record; refuse earlier ones with other values; count identical ones."""
        t = self.target
        # One statement, no table in between: most batches that get here have no repeated key.
        cursor.execute(
            f"WITH later AS MATERIALIZED ({t.repeated_keys(STAGE, LINE)}), "
            f"refused AS (INSERT INTO {REFUSED} SELECT n, 'duplicate_key', format('line %s of the batch has "
            "the same key and other values; the later record was loaded', later) FROM later WHERE same = 0), "
            f"dropped AS (DELETE FROM {STAGE} WHERE {LINE} IN (SELECT n FROM later)) "
            "SELECT count(*) FILTER (WHERE same = 1) FROM later"
        )
        return int(cursor.fetchone()[0])

    def _merge_row_by_row(self, cursor: Any) -> tuple[int, int]:
        """The merge one row at a time, each in its own subtransaction: refused rows set aside."""
        t = self.target
        cursor.execute(f"CREATE TEMP TABLE {MERGED} (inserted boolean) ON COMMIT DROP")
        cursor.execute(f"""DO $rapi$
DECLARE r record;
BEGIN
  FOR r IN SELECT {LINE} AS n FROM {STAGE} LOOP
    BEGIN
      WITH merged AS (INSERT INTO {t.name} AS t ({t.column_list()})
        SELECT {t.column_list("s.")} FROM {STAGE} s
        WHERE s.{LINE} = r.n AND NOT EXISTS (SELECT 1 FROM {t.name} o WHERE {t.key_match("o", "s")}
        AND {t.same("o", "s")}) {self._on_conflict()} RETURNING (t.xmax = 0) AS inserted)
      INSERT INTO {MERGED} SELECT inserted FROM merged;
    EXCEPTION WHEN others THEN INSERT INTO {REFUSED} VALUES (r.n, 'db_refused', SQLERRM);
    END;
  END LOOP;
END $rapi$""")
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM {MERGED}"
        )
        inserted, updated = cursor.fetchone()
        return int(inserted), int(updated)


def _copy(cursor: Any, sql: str, data: bytes) -> None:
    if hasattr(cursor, "copy_expert"):  # psycopg 2
        cursor.copy_expert(sql, io.BytesIO(data))
        return
    with cursor.copy(sql) as stream:  # psycopg 3
        stream.write(data)


def _sqlstate(error: Exception) -> str:
    return str(getattr(error, "sqlstate", None) or getattr(error, "pgcode", None) or "")


def _is_refusal(error: Exception) -> bool:
    return _sqlstate(error)[:2] in REFUSALS
