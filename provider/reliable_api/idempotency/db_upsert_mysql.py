"""MySQL/MariaDB loader of a database upsert: ``LOAD DATA LOCAL INFILE`` of Arrow's CSV or of the lines.

With pyarrow, Arrow parses and screens each batch on the client and the records it passes are
loaded as CSV: straight into the table while every record of the run is new, else into a stage
shaped like the table (ADR 0035). The lines Arrow doubts (every line, without it, or when
``LOAD DATA`` warned) are loaded verbatim, one line per row (no field separator or escape
character can occur in JSON text), when the connection allows local files
(:func:`~reliable_api.idempotency.db_upsert.upsert_records` opens it with ``local_infile``);
otherwise they are bound in one ``executemany``. The database then extracts each field with one
``JSON_TABLE`` per line and casts it into the stage, where strict mode refuses a value that does
not fit (named by MySQL's message with its column).
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

from reliable_api.idempotency.db_upsert_json_checks import FIELDS, RAW, STAGE
from reliable_api.idempotency.db_upsert_json_sql import JsonSqlLoader
from reliable_api.idempotency.sql_merge import LINE

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.db_upsert_arrow import ArrowBatch
    from reliable_api.idempotency.db_upsert_batches import LineBatch
    from reliable_api.idempotency.sql_merge import Target

#: MySQL errors of a refused value or row: out of range, truncated, incorrect value, too long,
#: NOT NULL, duplicate on another unique key, foreign key, CHECK constraint.
REFUSALS = frozenset({1048, 1062, 1264, 1265, 1292, 1366, 1406, 1411, 1451, 1452, 1690, 3819, 4025})
#: The server refusing LOAD DATA LOCAL (its ``local_infile`` is off).
LOCAL_FILES_OFF = frozenset({1148, 3948})
#: LOAD DATA's client-side capability flag (pymysql.constants.CLIENT.LOCAL_FILES).
LOCAL_FILES = 128


class MysqlLoader(JsonSqlLoader):
    """:class:`JsonSqlLoader` spelled for MySQL/MariaDB."""

    param = "%s"
    string_type = "string"
    index_first = True
    stages_ready = True
    arrow_output = "load_data"
    temporary = "TEMPORARY"
    drop = "DROP TEMPORARY TABLE IF EXISTS {}"

    def __init__(self, target: Target) -> None:
        from sqlalchemy import types

        super().__init__(target)
        # MariaDB loads and reads an Aria temporary table in about half the time of an InnoDB
        # one. Only for a stage LOAD DATA alone fills (its warnings are checked): in a
        # non-transactional table strict mode would adjust a bad value after the first row
        # instead of refusing it, and no rollback to a savepoint would undo a statement.
        self.quick_stage = "ENGINE=Aria" if getattr(target.dialect, "is_mariadb", False) else ""
        # MySQL compares strings by the column's collation: the default ones ignore case, so
        # "ABC" and "abc" are one key to the table and two to Arrow's screen.
        self.keys_fold = any(isinstance(target.types[name], types.String) for name in target.key)

    def stage_ready(self, connection: Connection, ready: ArrowBatch) -> bool:
        """``LOAD DATA`` of the CSV into ``STAGE``: the server casts as the floor's load does.

        ``LOAD DATA LOCAL`` turns a value it cannot store into a warning, not an error (it cannot
        stop the client's file): after any warning every line goes through SQL.
        """
        return self._load_ready(connection, ready, STAGE, LINE)

    def insert_ready(self, connection: Connection, batch: LineBatch, ready: ArrowBatch) -> bool:
        """``LOAD DATA`` of the CSV straight into the table.

        A row whose key exists after all is skipped with a warning (``LOCAL`` implies
        ``IGNORE``), as is a value the column cannot hold: any warning, and the caller rolls the
        load back and stages the batch.
        """
        return self._load_ready(connection, ready, self.target.name, "@n")

    def _load_ready(self, connection: Connection, ready: ArrowBatch, table: str, line: str) -> bool:
        """``LOAD DATA LOCAL`` of the screened records into ``table``, each line number into ``line``.

        :returns: False when the connection may not load local files or the server warned.
        """
        t = self.target
        variables = ", ".join(f"@v{i}, @n{i}" for i in range(len(t.columns)))
        values = ", ".join(f"{t.q(name)} = IF(@n{i} = 1, NULL, @v{i})" for i, name in enumerate(t.columns))
        loaded = self._load_file(
            connection,
            ready.csv,
            f"INTO TABLE {table} CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY "
            f"'\"' ESCAPED BY '' LINES TERMINATED BY '\\n' ({line}, {variables}) SET {values}",
        )
        return loaded and not connection.exec_driver_sql("SELECT @@warning_count").scalar_one()

    def stage_raw(self, connection: Connection, batch: LineBatch, numbers: list[int] | None = None) -> None:
        """``RAW`` by ``LOAD DATA LOCAL INFILE`` when the connection allows it, else bound lines."""
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {RAW} (n integer AUTO_INCREMENT PRIMARY KEY, doc longtext) "
            "CHARACTER SET utf8mb4"
        )
        if numbers is None:
            data, columns = batch.data, "(doc)"
        else:
            lines = batch.split()
            data, columns = b"".join(b"%d\x01%s\n" % (n, lines[n - 1]) for n in numbers), "(n, doc)"
        # \x01 occurs raw in no JSON text and nothing is escaped: each line lands whole in doc.
        spec = f"INTO TABLE {RAW} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\x01' ESCAPED BY '' {columns}"
        if self._load_file(connection, data, spec):
            return
        rows = [line.split(b"\x01") if numbers else [line] for line in data.split(b"\n")[:-1]]
        placeholders = ", ".join(["%s"] * len(rows[0])) if rows else "%s"
        connection.exec_driver_sql(
            f"INSERT INTO {RAW} {columns} VALUES ({placeholders})",
            [tuple(part.decode() for part in row) for row in rows],
        )

    def _load_file(self, connection: Connection, data: bytes, spec: str) -> bool:
        """``LOAD DATA LOCAL INFILE`` of ``data`` (``spec``: the statement from INTO on).

        :returns: False when the connection or the server does not allow local files.
        """
        from sqlalchemy.exc import OperationalError

        driver = connection.connection.driver_connection
        if not getattr(driver, "client_flag", 0) & LOCAL_FILES:
            return False
        with tempfile.NamedTemporaryFile(suffix=".load") as file:
            file.write(data)
            file.flush()
            try:
                connection.exec_driver_sql(f"LOAD DATA LOCAL INFILE %s {spec}", (file.name,))
            except OperationalError as error:
                if getattr(error.orig, "args", (None,))[0] not in LOCAL_FILES_OFF:
                    raise
                return False  # the server has local_infile off
        return True

    source = FIELDS

    def split_fields(self, connection: Connection) -> None:
        """``FIELDS``: each line with every column's JSON value, by one ``JSON_TABLE`` parse.

        (``JSON_EXTRACT`` per column and use would parse the whole line each time.)
        """
        columns = ", ".join(f"v{i} JSON PATH '$.{name}'" for i, name in enumerate(self.target.known))
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {FIELDS} AS SELECT r.n, r.doc, j.* FROM {RAW} r, "
            f"JSON_TABLE(r.doc, '$' COLUMNS ({columns})) AS j"
        )

    def _value(self, name: str) -> str:
        return f"v{self.target.known.index(name)}"

    def json_type(self, path: str) -> str:
        """``JSON_TYPE``, lower case: of the line, or of a field's value from ``FIELDS``."""
        return "lower(JSON_TYPE(doc))" if path == "$" else f"lower(JSON_TYPE({self._value(path[2:])}))"

    def extract(self, column: str) -> str:
        """The field's value: strings unquoted, booleans as 1/0, objects and arrays as JSON text."""
        v = self._value(column)
        return (
            f"CASE WHEN {v} IS NULL OR {v} = 'null' THEN NULL "
            f"WHEN LEFT({v}, 1) = '\"' THEN JSON_UNQUOTE({v}) "
            f"WHEN {v} = 'true' THEN 1 WHEN {v} = 'false' THEN 0 ELSE {v} END"
        )

    def unknown_fields(self) -> tuple[str, str]:
        """What ``JSON_REMOVE`` of the table's columns leaves of the object: the unknown fields."""
        rest = f"JSON_REMOVE(doc, {', '.join(repr(f'$.{name}') for name in self.target.known)})"
        return f"JSON_LENGTH({rest}) > 0", f"JSON_KEYS({rest})"

    def index_sql(self, table: str, columns: list[str]) -> str:
        """``ALTER TABLE ... ADD INDEX`` (a temporary table's index)."""
        return f"ALTER TABLE {table} ADD INDEX ({', '.join(self.target.q(c) for c in columns)})"

    def concat(self, *parts: str) -> str:
        """``CONCAT(...)``."""
        return f"CONCAT({', '.join(parts)})"

    def merge_sql(self, where: str, *, skip_unchanged: bool = True) -> str:
        """``INSERT ... ON DUPLICATE KEY UPDATE``: MySQL writes no row whose values are all equal."""
        t = self.target
        return (
            f"INSERT INTO {t.name} ({t.column_list()}) SELECT {t.column_list()} FROM {STAGE} "
            f"WHERE {self._changed(where, skip_unchanged)} "
            f"ON DUPLICATE KEY UPDATE {t.set_list('VALUES({})')}"
        )

    def refused(self, error: BaseException | None) -> bool:
        """Strict mode's refused values and the table's refused rows, by MySQL error number."""
        code = getattr(error, "args", (None,))[0]
        return code in REFUSALS

    def reason(self, error: BaseException | None) -> str:
        """MySQL's message (it names the column), without the error number."""
        args: tuple[object, ...] = getattr(error, "args", ())
        return str(args[1]) if len(args) > 1 else str(error)
