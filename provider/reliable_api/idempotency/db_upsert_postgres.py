"""PostgreSQL loader of a database upsert: JSON Lines in, one merge out, no Python per record.

Fast path (pyarrow installed, every column a scalar type): Arrow's C++ JSON reader parses the
batch against the table's types (an unknown field or a value of the wrong JSON type stops it),
null or repeated keys are checked on the Arrow columns, Arrow writes CSV, ``COPY`` loads it into
a temporary table and one statement merges it. Careful path (anything the fast path stops at,
and any value the database refuses): the lines are COPYed as text and a PL/pgSQL block parses,
checks and casts each in the database, setting aside every record it cannot take with the
reason (and the column, for a value the column's type refuses); the merge falls back to one row
at a time only when the table itself refuses a row (NOT NULL, CHECK, foreign key).
docs/adr/0028-db-upserts-in-the-database.md says why and what it measured.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from reliable_api.idempotency.db_upsert_batches import BatchOutcome
from reliable_api.idempotency.sql_merge import LINE, Target

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.db_upsert_batches import LineBatch

RAW, STAGE, REFUSED, LATER, MERGED = (
    "_rapi_raw",
    "_rapi_stage",
    "_rapi_refused",
    "_rapi_later",
    "_rapi_merged",
)
#: SQLSTATE classes of a database refusing data (22: data exception, 23: integrity violation).
REFUSALS = ("22", "23")


class PostgresLoader:
    """Loads JSON Lines batches into ``target`` on a psycopg 2 or 3 connection."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.arrow_schema = _arrow_schema(target)
        t = target
        self.stage_select = f"SELECT {t.column_list()} FROM {t.name}"
        self.populate = f"jsonb_populate_record(NULL::{t.name}, d)"

    def prepare(self, batch: LineBatch) -> bytes | None:
        """The batch as CSV of the table's columns for the fast path, or None (careful path)."""
        return None if self.arrow_schema is None else self._arrow_csv(batch.data)

    def load(self, connection: Connection, batch: LineBatch, csv: bytes | None) -> BatchOutcome:
        """Merge ``batch`` (``csv``: what :meth:`prepare` made of it) inside the caller's transaction."""
        cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if csv is not None:
            cursor.execute("SAVEPOINT rapi_fast")
            try:
                cursor.execute(
                    f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS {self.stage_select} WITH NO DATA"
                )
                _copy(cursor, f"COPY {STAGE} ({self.target.column_list()}) FROM STDIN (FORMAT csv)", csv)
                inserted, updated = self._merge(cursor, STAGE)
                cursor.execute("RELEASE SAVEPOINT rapi_fast")
                return BatchOutcome(inserted, updated)
            except Exception as error:
                if not _is_refusal(error):
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT rapi_fast")
        return self._careful(cursor, batch.data)

    def _arrow_csv(self, data: bytes) -> bytes | None:
        """The batch as CSV of the table's columns, or None when the fast path cannot take it."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv
        import pyarrow.json as pj

        options = pj.ParseOptions(explicit_schema=self.arrow_schema, unexpected_field_behavior="error")
        try:
            table = pj.read_json(io.BytesIO(data), parse_options=options)
        except pa.ArrowInvalid:  # an unknown field, a value of another JSON type, not an object
            return None
        keys = table.select(self.target.key).columns
        for column in keys:
            if column.null_count or (
                pa.types.is_string(column.type) and pc.any(pc.equal(column, "")).as_py()
            ):
                return None
        # Not Table.group_by: it imports Arrow's query engine, and with it pandas (seconds).
        joined = keys[0]
        if len(keys) > 1:
            joined = pc.binary_join_element_wise(*[pc.cast(c, pa.string()) for c in keys], "\x1f")
        if pc.count_distinct(joined).as_py() != table.num_rows:
            return None
        out = io.BytesIO()
        pcsv.write_csv(table.select(self.target.columns), out, pcsv.WriteOptions(include_header=False))
        return out.getvalue()

    def _merge(self, cursor: Any, stage: str) -> tuple[int, int]:
        t = self.target
        # The stage has no statistics and the target's lag behind a load: left to itself the planner
        # hashes the whole target for every batch (n² over a large load). One index probe per
        # staged row is what a batch merge needs; SET LOCAL ends with the batch's transaction.
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(
            f"WITH merged AS (INSERT INTO {t.name} AS t ({t.column_list()}) SELECT {t.column_list('s.')} "
            f"FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {t.name} o WHERE {t.key_match('o', 's')} "
            f"AND {t.same('o', 's')}) {self._on_conflict()} RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        )
        inserted, updated = cursor.fetchone()
        return int(inserted), int(updated)

    def _on_conflict(self) -> str:
        # The anti-join above keeps unchanged rows out; the WHERE keeps a row another writer
        # has just made equal from being rewritten. xmax = 0 marks a freshly inserted row version.
        t = self.target
        return (
            f"ON CONFLICT ({', '.join(t.q(k) for k in t.key)}) DO UPDATE SET {t.set_list('EXCLUDED.{}')} "
            f"WHERE NOT ({t.same('t', 'EXCLUDED')})"
        )

    def _careful(self, cursor: Any, data: bytes) -> BatchOutcome:
        t = self.target
        cursor.execute(
            f"CREATE TEMP TABLE {RAW} ({LINE} bigint GENERATED ALWAYS AS IDENTITY, doc text) ON COMMIT DROP"
        )
        # Control characters never occur raw in JSON text: as quote and delimiter, each line loads verbatim.
        _copy(cursor, f"COPY {RAW} (doc) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')", data)
        cursor.execute(
            f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT 0::bigint AS {LINE}, {t.column_list()} "
            f"FROM {t.name} WITH NO DATA"
        )
        cursor.execute(f"CREATE TEMP TABLE {REFUSED} (n bigint, reason text, message text) ON COMMIT DROP")
        cursor.execute(self._check_block())
        outcome = BatchOutcome(duplicates=self._drop_duplicates(cursor))
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

    def _check_block(self) -> str:
        """A PL/pgSQL block that parses, checks and casts every raw line into the stage."""
        t = self.target
        keys = _text_array(t.key)
        known = _text_array(t.known)
        columns = _text_array(t.columns)
        return f"""DO $rapi$
DECLARE r record; d jsonb; k text; c text; problem text; why text;
BEGIN
  FOR r IN SELECT {LINE} AS n, doc FROM {RAW} LOOP
    problem := NULL; d := NULL;
    BEGIN d := r.doc::jsonb;
    EXCEPTION WHEN others THEN
      problem := 'db_refused'; why := 'the database cannot store this record: ' || SQLERRM;
    END;
    IF problem IS NULL AND coalesce(jsonb_typeof(d), '') <> 'object' THEN
      problem := 'not_a_record';
      why := 'not a record (a JSON object): ' || coalesce(jsonb_typeof(d), 'an empty line');
    END IF;
    IF problem IS NULL THEN
      FOREACH k IN ARRAY {keys} LOOP
        IF coalesce(jsonb_typeof(d -> k), 'null') = 'null' OR d ->> k = '' THEN
          problem := 'missing_key'; why := format('record has no value for natural key field %L', k); EXIT;
        ELSIF jsonb_typeof(d -> k) IN ('object', 'array') THEN
          problem := 'invalid_key';
          why := format('natural key field %L is not a scalar: %s', k, d -> k); EXIT;
        END IF;
      END LOOP;
    END IF;
    IF problem IS NULL AND d - {known} <> '{{}}'::jsonb THEN
      problem := 'unknown_field';
      SELECT format('fields the table has no column for: %s', string_agg(quote_literal(x), ', '))
        INTO why FROM jsonb_object_keys(d - {known}) x;
    END IF;
    IF problem IS NULL THEN
      BEGIN
        INSERT INTO {STAGE} SELECT r.n, {t.column_list("p.")} FROM {self.populate} p;
      EXCEPTION WHEN others THEN
        problem := 'db_refused'; why := SQLERRM;
        FOREACH c IN ARRAY {columns} LOOP
          BEGIN PERFORM jsonb_populate_record(NULL::{t.name}, jsonb_build_object(c, d -> c));
          EXCEPTION WHEN others THEN why := format('column %L: %s', c, SQLERRM); EXIT;
          END;
        END LOOP;
      END;
    END IF;
    IF problem IS NOT NULL THEN INSERT INTO {REFUSED} VALUES (r.n, problem, why); END IF;
  END LOOP;
END $rapi$"""

    def _drop_duplicates(self, cursor: Any) -> int:
        """Keep each key's last record; refuse earlier ones with other values; count identical ones."""
        t = self.target
        cursor.execute(f"CREATE TEMP TABLE {LATER} ON COMMIT DROP AS {t.repeated_keys(STAGE, LINE)}")
        cursor.execute(
            f"INSERT INTO {REFUSED} SELECT n, 'duplicate_key', format('line %s of the batch has the same key "
            f"and other values; the later record was loaded', later) FROM {LATER} WHERE same = 0"
        )
        cursor.execute(f"DELETE FROM {STAGE} WHERE {LINE} IN (SELECT n FROM {LATER})")
        cursor.execute(f"SELECT count(*) FILTER (WHERE same = 1) FROM {LATER}")
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


def _text_array(names: list[str]) -> str:
    # Validated identifiers (letters, digits, underscores): safe as SQL string literals.
    return "ARRAY[" + ", ".join(f"'{name}'" for name in names) + "]::text[]"


def _copy(cursor: Any, sql: str, data: bytes) -> None:
    if hasattr(cursor, "copy_expert"):  # psycopg 2
        cursor.copy_expert(sql, io.BytesIO(data))
        return
    with cursor.copy(sql) as stream:  # psycopg 3
        stream.write(data)


def _is_refusal(error: Exception) -> bool:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None) or ""
    return str(code)[:2] in REFUSALS


def _arrow_schema(target: Target) -> Any:
    """The Arrow schema of the table's columns, or None (no pyarrow, or a non-scalar column)."""
    try:
        import pyarrow as pa
    except ImportError:
        return None
    from sqlalchemy import types

    fields = []
    for name in target.known:
        kind = target.types[name]
        if isinstance(kind, types.Boolean):
            arrow = pa.bool_()
        elif isinstance(kind, types.Integer):
            arrow = pa.int64()
        elif isinstance(kind, types.Numeric):  # Float is a Numeric: JSON numbers are doubles
            arrow = pa.float64()
        elif isinstance(kind, (types.String, types.Date, types.DateTime, types.Time)):
            arrow = pa.string()
        else:  # json, arrays, anything else: the careful path keeps their JSON values whole
            return None
        fields.append(pa.field(name, arrow))
    return pa.schema(fields)
